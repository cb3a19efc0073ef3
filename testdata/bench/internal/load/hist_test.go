package load

import (
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 100, 1000, 123456, 1 << 30, 1<<40 - 1} {
		i := bucketOf(v)
		if lo, hi := lowerBound(i), lowerBound(i+1); v < lo || v >= hi {
			t.Errorf("value %d in bucket %d = [%d,%d)", v, i, lo, hi)
		}
	}
}

func TestSummary(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(i, time.Duration(i)*time.Microsecond)
	}
	s := h.Summary()
	if s.Count != 1000 || s.Max != time.Millisecond {
		t.Fatalf("count %d max %v", s.Count, s.Max)
	}
	near := func(got, want time.Duration) bool {
		return got > want*96/100 && got < want*104/100
	}
	if !near(s.P50, 500*time.Microsecond) || !near(s.P99, 990*time.Microsecond) {
		t.Errorf("p50 %v p99 %v", s.P50, s.P99)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"16": 16, "128B": 128, "1KiB": 1024, "1k": 1024, "64K": 65536, "1MiB": 1 << 20, "1m": 1 << 20} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, _ := ParseSize(FormatSize(want)); back != want {
			t.Errorf("FormatSize(%d) = %q does not parse back", want, FormatSize(want))
		}
	}
	if _, err := ParseSize("x"); err == nil {
		t.Error("ParseSize(x) succeeded")
	}
}
