package schedule_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/azdurable/azdurable/cli"
	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/schedule"
)

// envWorker makes the test binary an azdurable worker (cli.Main) hosting
// Tock, so that the tests can run real worker processes to kill.
const envWorker = "AZDURABLE_SCHEDULE_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) == "1" {
		cli.Main(cli.WithRegistrations(tock))
		return
	}
	azuritetest.Main(m)
}

// tock is what the schedules of the process tests start: it answers its
// input and its tick.
var tock = durable.NewOrchestration("Tock", func(ctx durable.Context, in string) (string, error) {
	_, tick, ok := schedule.ParseTickInstanceID(ctx.InstanceID())
	if !ok {
		return "", fmt.Errorf("%s is not a tick's instance", ctx.InstanceID())
	}
	return in + " " + tick.Format(time.RFC3339), nil
})
