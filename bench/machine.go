package bench

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Machine describes where the bench ran.
type Machine struct {
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Kernel     string `json:"kernel,omitempty"`
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpuModel,omitempty"`
	MemoryMB   int64  `json:"memoryMB,omitempty"`
	GoVersion  string `json:"goVersion"`
	Commit     string `json:"commit,omitempty"`
	Dirty      bool   `json:"dirty,omitempty"` // built from a working tree with uncommitted changes
	CommitFrom string `json:"commitFrom,omitempty"`
}

// machine describes this machine and the build of this binary.
func machine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryMB = kb >> 10
				}
			}
		}
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				m.Commit, m.CommitFrom = s.Value, "build info"
			case "vcs.modified":
				m.Dirty = s.Value == "true"
			}
		}
	}
	if m.Commit == "" { // go run and go test do not stamp the build
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			m.Commit, m.CommitFrom = strings.TrimSpace(string(out)), "git rev-parse in the working directory"
			if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
				m.Dirty = len(strings.TrimSpace(string(st))) > 0
			}
		}
	}
	return m
}
