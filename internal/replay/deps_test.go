package replay

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEngineIsPure keeps the engine free of I/O and wall clocks: it may not
// import storage, network or OS packages, nor read the clock or the global
// random source. (The deadlock detector's timer measures how long user code
// runs; it never decides what the orchestration does.)
func TestEngineIsPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	banned := []string{"net", "os", "io/ioutil", "database/sql", "github.com/Azure/", "github.com/azdurable/azdurable/provider",
		"github.com/azdurable/azdurable/queues", "github.com/azdurable/azdurable/tables", "github.com/azdurable/azdurable/blobs",
		"github.com/azdurable/azdurable/worker", "github.com/azdurable/azdurable/storage", "github.com/azdurable/azdurable/partition"}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, b := range banned {
				if path == b || strings.HasPrefix(path, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(path, b)) {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok {
				switch id.Name + "." + sel.Sel.Name {
				case "time.Now", "time.Sleep", "time.Since", "time.Until", "rand.Int", "rand.IntN", "rand.Float64", "rand.Uint64":
					t.Errorf("%s: %s.%s reads the wall clock or the global random source", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
