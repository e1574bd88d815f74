package azurite

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/azdurable/azdurable/storage"
)

// The ports of the local Azurite (the emulator's defaults), which `make
// demo` and the command line's --local use.
const (
	LocalBlobPort  = 10000
	LocalQueuePort = 10001
	LocalTablePort = 10002
)

// LocalRunning reports whether something answers on the three ports of the
// local Azurite.
func LocalRunning() bool {
	return reachable(LocalBlobPort) && reachable(LocalQueuePort) && reachable(LocalTablePort)
}

// OpenLocal connects to the Azurite on the local ports, or starts one with
// its data in LocalDataDir, saying so on progress. The function returned
// stops what OpenLocal started (nothing when Azurite was already running).
func OpenLocal(ctx context.Context, progress io.Writer) (*storage.Account, func(), error) {
	base := "http://127.0.0.1:"
	cs := storage.DevelopmentConnectionString(base+strconv.Itoa(LocalBlobPort)+"/"+storage.DevelopmentAccountName,
		base+strconv.Itoa(LocalQueuePort)+"/"+storage.DevelopmentAccountName,
		base+strconv.Itoa(LocalTablePort)+"/"+storage.DevelopmentAccountName)
	acct, err := storage.ParseConnectionString(cs)
	if err != nil {
		return nil, func() {}, err
	}
	if LocalRunning() {
		return acct, func() {}, nil
	}
	dir := LocalDataDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, func() {}, err
	}
	fmt.Fprintf(progress, "starting the local Azurite (data in %s)\n", dir)
	srv, err := Start(ctx, Options{Location: dir, Loose: true,
		BlobPort: LocalBlobPort, QueuePort: LocalQueuePort, TablePort: LocalTablePort})
	if err != nil {
		return nil, func() {}, err
	}
	return acct, func() { _ = srv.Stop() }, nil
}

func reachable(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
