package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"github.com/azdurable/azdurable/internal/ctxsleep"
	"github.com/azdurable/azdurable/storage"
)

// captured is the output of one command of the secrets test.
type captured struct {
	name string
	code int
	out  string
}

// runCLI runs the test binary as the azdurable command line (the workload
// and ChaosExploding registered) with env added, and captures everything
// it prints. A command still running after d is killed.
func runCLI(t *testing.T, env []string, d time.Duration, args ...string) captured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), envWorker+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return captured{name: strings.Join(args, " "), code: code, out: out.String()}
}

func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestSecretsNeverPrinted runs the paths a user's secrets travel through
// (worker processes, CLI commands, failing storage calls, a panic in an
// activity, the Azure SDK's own request log) and checks that no output
// shows a secret:
//
//   - a connection string whose account key is a canary: Azurite accepts
//     only its own key, so every call fails authentication;
//   - a connection string whose SAS token is a canary, against the real
//     endpoints: every call fails authorization;
//   - the real development key, with canaries where users keep secrets
//     (environment variables the program never reads), a worker whose
//     storage calls fail on purpose, and an activity that panics.
//
// Each secret is looked for as given, URL-encoded, and (the key) decoded.
func TestSecretsNeverPrinted(t *testing.T) {
	acct := azuritetest.Account(t)
	e := acct.Endpoints()
	hub := newTestHub(t, 4)
	endpoints := fmt.Sprintf("BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=%s", e.Blob, e.Queue, e.Table)

	keyRaw := "canary-key-" + randomText(24)
	keyCanary := base64.StdEncoding.EncodeToString([]byte(keyRaw))
	sasCanary := "canarysig" + randomText(16)
	envCanary := "canary-env-" + randomText(16)
	badKey := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;%s", storage.DevelopmentAccountName, keyCanary, endpoints)
	badSAS := fmt.Sprintf("%s;SharedAccessSignature=sv=2022-11-02&ss=bqt&srt=sco&sp=rwdlacup&se=2099-01-01T00:00:00Z&st=2020-01-01T00:00:00Z&spr=https,http&sig=%s",
		endpoints, sasCanary)
	good := azuritetest.ConnectionString(t)
	// Where users keep secrets: none of these is read by azdurable, and
	// AZURE_SDK_GO_LOGGING=all makes the SDK log every request and answer.
	secretEnv := []string{"AZURE_STORAGE_KEY=" + envCanary, "AZURE_CLIENT_SECRET=" + envCanary,
		"AZURE_STORAGE_SAS_TOKEN=" + envCanary, "MY_APP_PASSWORD=" + envCanary, "AZURE_SDK_GO_LOGGING=all"}

	var outs []captured
	short := 3 * time.Minute
	for _, cs := range []string{badKey, badSAS} {
		withEnv := append([]string{"AZURE_STORAGE_CONNECTION_STRING=" + cs}, secretEnv...)
		for _, args := range [][]string{
			{"worker", "--task-hub", hub, "--log-level", "debug"},
			{"hub", "create", "--task-hub", hub + "x"},
			{"hub", "info", "--task-hub", hub},
			{"instances", "list", "--task-hub", hub},
			{"instances", "start", Chain.Name(), "--task-hub", hub, "--input", "3"},
		} {
			c := runCLI(t, withEnv, short, args...)
			if c.code == 0 {
				t.Errorf("%s with bad credentials exited 0:\n%s", c.name, c.out)
			}
			outs = append(outs, c)
		}
		// The same secret given as a flag.
		outs = append(outs, runCLI(t, secretEnv, short, "instances", "show", "nobody", "--task-hub", hub, "--connection-string", cs))
	}
	outs = append(outs, runCLI(t, nil, short, "hub", "info", "--task-hub", hub, "--connection-string", "AccountKey="+keyCanary+";nonsense"))

	// The real key, a worker with failing storage calls and a panicking
	// activity.
	dir := testDir(t)
	logPath := filepath.Join(dir, "worker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	// Short visibility timeouts: a receive whose answer a fault drops has
	// still hidden its message, which reappears only after the timeout (5
	// minutes by default, which outlasts the test).
	worker := exec.CommandContext(wctx, os.Args[0], "worker", "--task-hub", hub, "--log-level", "debug", "--max-poll", "0.5",
		"--fault-rate", "0.2", "--partitions", "4", "--control-queue-visibility", "5s", "--work-item-visibility", "5s")
	worker.Env = append(append(os.Environ(), envWorker+"=1", "AZURE_STORAGE_CONNECTION_STRING="+good), secretEnv...)
	worker.Stdout, worker.Stderr = logf, logf
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop()
		_ = worker.Wait()
		logf.Close()
	}()
	withGood := append([]string{"AZURE_STORAGE_CONNECTION_STRING=" + good}, secretEnv...)
	start := runCLI(t, withGood, short, "instances", "start", exploding.Name(), "--task-hub", hub, "--id", "exploding", "--input", `"boom"`)
	outs = append(outs, start)
	if start.code != 0 {
		t.Fatalf("starting the exploding instance: %s", start.out)
	}
	var show captured
	deadline := time.Now().Add(3 * time.Minute)
	for {
		show = runCLI(t, withGood, short, "instances", "show", "exploding", "--task-hub", hub)
		if strings.Contains(show.out, "Failed") {
			break
		}
		if time.Now().After(deadline) {
			info := runCLI(t, withGood, short, "hub", "info", "--task-hub", hub)
			t.Fatalf("timed out after 3 minutes waiting for the exploding instance to fail\nshow: %s\nhub info: %s", show.out, info.out)
		}
		ctxsleep.Sleep(context.Background(), 100*time.Millisecond)
	}
	outs = append(outs, show, runCLI(t, withGood, short, "instances", "history", "exploding", "--task-hub", hub),
		runCLI(t, withGood, short, "instances", "list", "--task-hub", hub, "--json"))
	if !strings.Contains(show.out+outs[len(outs)-2].out, PanicMessage) {
		t.Errorf("the panic is not recorded, so the test did not run the path it is for:\n%s", show.out)
	}
	stop()
	_ = worker.Wait()
	wlog, _ := os.ReadFile(logPath)
	outs = append(outs, captured{name: "worker with the real key", out: string(wlog)})
	if !strings.Contains(string(wlog), "injected fault") {
		t.Errorf("the worker logged no failing storage call, so the test did not run the path it is for")
	}

	secrets := map[string]string{"account key": keyCanary, "account key (decoded)": keyRaw, "SAS signature": sasCanary,
		"environment secret": envCanary, "development account key": storage.DevelopmentAccountKey}
	for name, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			for _, c := range outs {
				if strings.Contains(c.out, form) {
					t.Errorf("the %s appears in the output of %q:\n%s", name, c.name, c.out)
				}
			}
		}
	}
	total := 0
	for _, c := range outs {
		total += len(c.out)
	}
	t.Logf("%d outputs, %d bytes, searched for %d secrets", len(outs), total, len(secrets))
	if t.Failed() {
		for i, c := range outs {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("out-%02d.txt", i)), []byte(c.name+"\n"+c.out), 0o644)
		}
		t.Logf("the outputs are in %s", dir)
	}
}
