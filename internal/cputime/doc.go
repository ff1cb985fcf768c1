// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU per operation (b.ReportMetric "cpu-ns/op") beside wall
// time: on a shared 2-core machine wall time is noisy, CPU spent is less so.
package cputime
