package cputime

import "testing"

// RunParallel is b.RunParallel for the read benchmarks: allocations
// reported, 32 goroutines per GOMAXPROCS (64 callers on 2 cores, as
// kvctl bench --clients 64 sends), and cpu-ns/op, the process's CPU time
// per operation, beside ns/op where it can be measured. newOp is called
// once per goroutine, for per-caller setup, and returns the operation.
func RunParallel(b *testing.B, newOp func() func() error) {
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	start := Process()
	b.RunParallel(func(pb *testing.PB) {
		op := newOp()
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if start != 0 {
		b.ReportMetric(float64(Process()-start)/float64(b.N), "cpu-ns/op")
	}
}
