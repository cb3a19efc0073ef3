//go:build !unix

package frame

import "io"

const canWaitRaw = false

func peekPending(fd uintptr, b []byte) bool { return true }

func rawRead(fd uintptr, b []byte) (int, error) { return 0, io.EOF }
