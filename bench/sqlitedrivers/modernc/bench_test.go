package modernc

import (
	"testing"

	"github.com/heraldev/herald/bench/sqlitedrivers/workload"
)

func TestMain(m *testing.M) { workload.Exit(m) }

func BenchmarkApply(b *testing.B)  { workload.Apply(b, Driver) }
func BenchmarkCreate(b *testing.B) { workload.Create(b, Driver) }
func BenchmarkRead(b *testing.B)   { workload.Read(b, Driver) }
