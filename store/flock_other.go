//go:build !unix

package store

import "context"

// lockFile does nothing on systems without flock: two processes migrating
// one SQLite file at once there may fail to start, and start when retried.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
