package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EnvDtfxRef names the dtfx-ref program.
const EnvDtfxRef = "DTFX_REF"

// FindDtfxRef returns the dtfx-ref program: explicit, else $DTFX_REF, else
// ../shared/csharp-reference/dtfx-ref from the module root (the directory
// with go.mod above the working directory).
func FindDtfxRef(explicit string) (string, error) {
	if explicit != "" {
		return checkExe(explicit)
	}
	if p := os.Getenv(EnvDtfxRef); p != "" {
		return checkExe(p)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return checkExe(filepath.Join(d, "..", "shared", "csharp-reference", "dtfx-ref"))
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return checkExe(filepath.Join(dir, "..", "shared", "csharp-reference", "dtfx-ref"))
}

func checkExe(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("dtfx-ref not found (%v): set $%s or --dtfx-ref", err, EnvDtfxRef)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("dtfx-ref at %s is not an executable file", p)
	}
	return p, nil
}

// csharpArgs are dtfx-ref bench's arguments for the scenario.
func csharpArgs(cfg Config, hub string) []string {
	args := []string{"bench", "--hub", hub, "--partitions", strconv.Itoa(cfg.Partitions),
		"--max-poll", strconv.Itoa(int(math.Max(1, math.Round(cfg.MaxPoll.Seconds()))))}
	switch cfg.Scenario {
	case FanOut:
		args = append(args, "--fanout", strconv.Itoa(cfg.Count))
	default:
		args = append(args, "--chains", strconv.Itoa(cfg.Count), "--length", strconv.Itoa(cfg.Length))
	}
	if cfg.CSharpExtendedSessions {
		args = append(args, "--extended-sessions")
	}
	return args
}

// runCSharp runs dtfx-ref bench on a fresh hub of the same storage and
// returns its JSON as printed, and parsed. The hub is deleted afterwards.
func runCSharp(ctx context.Context, cfg Config, connStr string) ([]byte, *csharpResult, error) {
	exe, err := FindDtfxRef(cfg.DtfxRef)
	if err != nil {
		return nil, nil, err
	}
	hub := "CsBench" + strings.ToLower(randomSuffix())
	env := append(os.Environ(), "AZURE_STORAGE_CONNECTION_STRING="+connStr)
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, csharpArgs(cfg, hub)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	defer func() {
		del := exec.Command(exe, "delete", "--hub", hub)
		del.Env = env
		_ = del.Run()
	}()
	if runErr != nil {
		return nil, nil, fmt.Errorf("dtfx-ref bench: %v: %s", runErr, lastLines(stderr.String(), 5))
	}
	raw := bytes.TrimSpace(stdout.Bytes())
	var res csharpResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, nil, fmt.Errorf("dtfx-ref bench printed no JSON object (%v): %s", err, lastLines(stdout.String(), 3))
	}
	return raw, &res, nil
}

func randomSuffix() string { return newHubName()[len("Bench"):] }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
