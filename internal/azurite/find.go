package azurite

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvExecutable names the environment variable that, when set, is the path
// of the azurite executable to run; it overrides every other location.
const EnvExecutable = "AZDURABLE_AZURITE"

// modulePath identifies azdurable's own go.mod when walking up directories.
const modulePath = "github.com/azdurable/azdurable"

// localExecutable is where `make tools` (npm ci --prefix tools/azurite)
// installs Azurite, relative to the module root.
var localExecutable = filepath.Join("tools", "azurite", "node_modules", ".bin", launcherName())

func launcherName() string {
	if runtime.GOOS == "windows" {
		return "azurite.cmd"
	}
	return "azurite"
}

// ErrNotFound is wrapped by the error FindExecutable returns when no Azurite
// is installed in any place it looks.
var ErrNotFound = errors.New(`azurite: Azurite not found: run "make tools" (npm ci --prefix tools/azurite) or set ` + EnvExecutable)

// FindExecutable returns the path of the azurite executable to run. It looks,
// in order, at:
//
//  1. $AZDURABLE_AZURITE (an error if set but not an executable file);
//  2. tools/azurite/node_modules/.bin/azurite under the azdurable module
//     root, found by walking up from the working directory (during go test
//     that is the package directory) to the go.mod whose module is
//     github.com/azdurable/azdurable, then likewise from the directory this
//     source file was compiled from (so `go run` works from anywhere in a
//     checkout);
//  3. azurite on PATH.
//
// When nothing is found the error wraps [ErrNotFound], whose text says how
// to fix it.
func FindExecutable() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	return find(os.Getenv(EnvExecutable), starts, exec.LookPath)
}

func find(env string, starts []string, lookPath func(string) (string, error)) (string, error) {
	if env != "" {
		if err := checkExecutable(env); err != nil {
			return "", fmt.Errorf("azurite: %s=%q: %w", EnvExecutable, env, err)
		}
		return env, nil
	}
	for _, dir := range starts {
		root, ok := moduleRoot(dir)
		if !ok {
			continue
		}
		p := filepath.Join(root, localExecutable)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	if p, err := lookPath("azurite"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (looked at $%s, %s under the azdurable module root, and PATH)", ErrNotFound, EnvExecutable, filepath.ToSlash(localExecutable))
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory, not an executable")
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return errors.New("is not executable")
	}
	return nil
}

// moduleRoot walks up from dir to the directory holding azdurable's go.mod.
// Other modules' go.mod files on the way (a nested module, a checkout inside
// another project) are passed over.
func moduleRoot(dir string) (string, bool) {
	dir = filepath.Clean(dir)
	for {
		if modulePathOf(filepath.Join(dir, "go.mod")) == modulePath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// modulePathOf returns the module path declared in a go.mod file, or "".
func modulePathOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line, _, _ = strings.Cut(line, "//"); line == "" {
			continue
		}
		rest, ok := strings.CutPrefix(line, "module")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		return strings.Trim(strings.TrimSpace(rest), `"`+"`")
	}
	return ""
}

// LocalDataDir is where the local Azurite of `make demo` and `--local`
// keeps its data: .azurite in the azdurable checkout that contains the
// working directory, else .azurite in the working directory.
func LocalDataDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ".azurite"
	}
	if root, ok := moduleRoot(wd); ok {
		return filepath.Join(root, ".azurite")
	}
	return filepath.Join(wd, ".azurite")
}
