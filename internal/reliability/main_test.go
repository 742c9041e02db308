package reliability

import (
	"flag"
	"net"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/kafkanat/kafkanat/kafkanattest"
)

// soakFlag turns the default run's fault and load tests into long soaks.
var soakFlag = flag.Bool("soak", false, "run long soaks: many more records, faults and load rounds (also KAFKANAT_SOAK=1)")

// soak reports whether this run is a soak.
func soak() bool { return *soakFlag || os.Getenv("KAFKANAT_SOAK") == "1" }

// ignoreSarama names the one goroutine sarama never stops: its metrics
// library ticks meters in a process-wide goroutine started on first use.
var ignoreSarama = goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")

func TestMain(m *testing.M) {
	// Hidden names fail in-process instead of asking the machine's DNS
	// server: nothing these tests do may send a packet off the machine.
	net.DefaultResolver = kafkanattest.OfflineResolver()
	goleak.VerifyTestMain(m, ignoreSarama)
}
