package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// lowerPriority raises the nice value of every thread of this process to
// n (Linux sets it per thread; threads started later inherit it from the
// thread that starts them), so that the work of a background job (herald
// rebuild) yields the CPU to the services answering requests beside it.
func lowerPriority(n int) error {
	if n <= 0 {
		return nil
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("lower priority: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil {
			return fmt.Errorf("lower priority of thread %d to nice %d: %w", tid, n, err)
		}
	}
	return nil
}
