//go:build !faults

package failpoint

// Inject does nothing outside faults builds.
func Inject(string) {}

// InjectData does nothing outside faults builds.
func InjectData(string, []byte) {}
