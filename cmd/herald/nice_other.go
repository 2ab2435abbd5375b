//go:build !linux

package main

// lowerPriority does nothing off Linux.
func lowerPriority(int) error { return nil }
