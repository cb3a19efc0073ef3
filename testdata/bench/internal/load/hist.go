package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram of latencies: log-linear buckets with 32 sub-buckets per
// power of two (relative error under 3.2%), safe for concurrent use, with
// values up to 2^40 ns (18 minutes).
type Histogram struct {
	shards [8]histShard
}

const (
	subBits   = 5
	subCount  = 1 << subBits
	maxExp    = 40 - subBits
	numBucket = (maxExp + 2) * subCount
)

type histShard struct {
	counts [numBucket]atomic.Uint32
	max    atomic.Int64
	_      [64]byte
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [subCount, 2*subCount)
	if e > maxExp {
		return numBucket - 1
	}
	return (e+1)*subCount + int(v>>e) - subCount
}

// lowerBound returns the smallest value of bucket i.
func lowerBound(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	e := i/subCount - 1
	return uint64(i%subCount+subCount) << e
}

// Record adds one value; shard spreads writers over cache lines.
func (h *Histogram) Record(shard int, d time.Duration) {
	s := &h.shards[shard%len(h.shards)]
	v := max(int64(d), 0)
	s.counts[bucketOf(uint64(v))].Add(1)
	for {
		m := s.max.Load()
		if v <= m || s.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Summary holds the quantiles of a histogram.
type Summary struct {
	Count         uint64
	P50, P99, Max time.Duration
}

// Summary computes the quantiles (each the midpoint of its bucket).
func (h *Histogram) Summary() Summary {
	var sum [numBucket]uint64
	var s Summary
	for i := range h.shards {
		for j := range sum {
			sum[j] += uint64(h.shards[i].counts[j].Load())
		}
		s.Max = max(s.Max, time.Duration(h.shards[i].max.Load()))
	}
	for _, c := range sum {
		s.Count += c
	}
	if s.Count == 0 {
		return s
	}
	quantile := func(q float64) time.Duration {
		rank := uint64(q*float64(s.Count-1)) + 1
		var acc uint64
		for i, c := range sum {
			acc += c
			if acc >= rank {
				lo, hi := lowerBound(i), lowerBound(i+1)
				return min(time.Duration((lo+hi)/2), s.Max)
			}
		}
		return s.Max
	}
	s.P50, s.P99 = quantile(0.50), quantile(0.99)
	return s
}
