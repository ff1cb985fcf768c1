package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// benchProfiles are bench's hidden --cpuprofile and --memprofile flags:
// profiles of the load generator itself (the client library), which
// shares the machine's cores with the servers it measures.
type benchProfiles struct {
	cpu string // CPU profile file; "" for none
	mem string // allocation profile file, written at the end; "" for none
}

// start begins CPU profiling when asked and returns the function that
// stops it and writes the allocation profile.
func (p benchProfiles) start() (stop func() error, err error) {
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if p.mem != "" {
			errs = append(errs, writeAllocProfile(p.mem))
		}
		return errors.Join(errs...)
	}, nil
}

// writeAllocProfile writes the allocation profile (every allocation since
// the process started) to path.
func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	runtime.GC() // up-to-date statistics
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("memory profile: %w", err)
	}
	return f.Close()
}
