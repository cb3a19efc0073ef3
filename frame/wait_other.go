//go:build !unix

package frame

const canWaitRaw = false

func peekPending(fd uintptr, b []byte) bool { return true }
