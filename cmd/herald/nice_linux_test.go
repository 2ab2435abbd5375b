package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// threadNices returns the nice value of every thread of this process, from
// /proc/self/task/*/stat (field 19).
func threadNices(t *testing.T) []int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var nices []int
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
		n, err := strconv.Atoi(fields[16])                            // field 19 of the whole line
		if err != nil {
			t.Fatal(err)
		}
		nices = append(nices, n)
	}
	return nices
}

// herald rebuild lowers its own priority, every thread of it, threads
// started afterwards too. It runs in a child process: nice values only go
// up for an unprivileged process, and the test binary's other tests must
// not slow down.
func TestLowerPriorityNicesEveryThread(t *testing.T) {
	if os.Getenv("HERALD_TEST_NICE_CHILD") == "1" {
		if err := lowerPriority(7); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		for range 8 { // goroutines that block in syscalls make the runtime start threads
			go func() {
				f, _ := os.Open("/proc/self/stat")
				b := make([]byte, 512)
				for range 1000 {
					_, _ = f.ReadAt(b, 0)
				}
				f.Close()
				done <- struct{}{}
			}()
		}
		for range 8 {
			<-done
		}
		for _, n := range threadNices(t) {
			if n != 7 {
				t.Fatalf("a thread has nice %d, want 7 (all: %v)", n, threadNices(t))
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLowerPriorityNicesEveryThread$", "-test.v")
	cmd.Env = append(os.Environ(), "HERALD_TEST_NICE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
