package load

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte count such as 16, 128B, 1KiB, 1k, 64K, 1MiB, 1m.
func ParseSize(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"k", 1 << 10}, {"m", 1 << 20}, {"b", 1}} {
		if rest, ok := strings.CutSuffix(t, suf.s); ok {
			t, mult = rest, suf.m
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 16, 1KiB, 64k, 1MiB)", s)
	}
	return n * mult, nil
}

// FormatSize writes a byte count the way ParseSize reads it: 16B, 1KiB, 1MiB.
func FormatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
