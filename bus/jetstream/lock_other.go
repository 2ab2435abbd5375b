//go:build !unix

package jetstream

import (
	"fmt"
	"os"
)

// lockDir only creates dir on systems without flock: running two embedded
// servers on one store there is the user's responsibility.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return nil, nil
}
