package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// public are the packages a user imports (each with its sub-packages). Any
// other importable package of the module is an error: a package that is
// not meant for users lives under internal/ or is a command.
var public = []string{
	"durable", "worker", "client", "durabletest", "history",
	"provider", "provider/azurestorage", "provider/memory",
	"storage", "httpapi", "cli", "samples",
	"queues", "tables", "blobs", "partition",
	// interop holds only the interop tests (and their package comment).
	"interop",
}

// listed is one package as go list reports it.
type listed struct {
	path, name, export string
	goFiles            int
}

// listExports returns the module's packages and their dependencies, each
// with the file of its compiled export data.
func listExports(t *testing.T) (mod []listed, exports map[string]string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-export", "-f",
		`{{.ImportPath}}	{{.Name}}	{{.Export}}	{{len .GoFiles}}	{{.Module}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	exports = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			continue
		}
		exports[f[0]] = f[2]
		if _, ok := local(f[0]); ok {
			var n int
			fmt.Sscan(f[3], &n)
			mod = append(mod, listed{path: f[0], name: f[1], export: f[2], goFiles: n})
		}
	}
	return mod, exports
}

func isInternal(path string) bool {
	return strings.Contains(path+"/", "/internal/")
}

// TestPublicSurface fails when an importable package is not one of the
// public packages, and when an exported identifier of a public package
// takes, returns or exposes a type of an internal package: a user could
// not name such a type, and the package behind it would become API.
func TestPublicSurface(t *testing.T) {
	mod, exports := listExports(t)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	})
	var checked []string
	for _, p := range mod {
		rel, _ := local(p.path)
		if p.name == "main" || isInternal(p.path) || p.goFiles == 0 {
			continue
		}
		if _, ok := inAny(rel, public); !ok {
			t.Errorf("%s is importable but not a public package: move it under internal/ (or make it a command)", rel)
			continue
		}
		pkg, err := imp.Import(p.path)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		checked = append(checked, rel)
		for _, problem := range exposed(pkg) {
			t.Errorf("%s: %s", rel, problem)
		}
	}
	sort.Strings(checked)
	t.Logf("%d public packages checked: %s", len(checked), strings.Join(checked, ", "))
	if len(checked) < 10 {
		t.Fatalf("only %d public packages found", len(checked))
	}
}

// exposed lists each exported identifier of pkg whose API mentions a type
// of an internal package: function signatures, the exported methods of
// exported types (on the value and the pointer), exported struct fields,
// exported interface methods, variables, constants and aliases.
func exposed(pkg *types.Package) []string {
	var out []string
	report := func(what string, typ types.Type) {
		if bad := internalIn(typ, map[types.Type]bool{}); bad != "" {
			out = append(out, fmt.Sprintf("%s mentions %s", what, bad))
		}
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch o := obj.(type) {
		case *types.Func:
			report("func "+name, o.Type())
		case *types.Var:
			report("var "+name, o.Type())
		case *types.Const:
			report("const "+name, o.Type())
		case *types.TypeName:
			if o.IsAlias() {
				report("type "+name, types.Unalias(o.Type()))
				continue
			}
			report("type "+name, o.Type().Underlying())
			named, ok := o.Type().(*types.Named)
			if !ok {
				continue
			}
			ms := types.NewMethodSet(types.NewPointer(named))
			for i := 0; i < ms.Len(); i++ {
				m := ms.At(i).Obj()
				if m.Exported() {
					report("method "+name+"."+m.Name(), m.Type())
				}
			}
		}
	}
	return out
}

// internalIn returns the first type of an internal package that a user of
// typ sees, or "". Named types of other packages are not looked into (a
// public package of the module is checked on its own); their type
// arguments are.
func internalIn(typ types.Type, seen map[types.Type]bool) string {
	if typ == nil || seen[typ] {
		return ""
	}
	seen[typ] = true
	switch t := typ.(type) {
	case *types.Alias:
		return internalIn(types.Unalias(t), seen)
	case *types.Named:
		if p := t.Obj().Pkg(); p != nil && strings.HasPrefix(p.Path(), module+"/") && isInternal(p.Path()) {
			return p.Path() + "." + t.Obj().Name()
		}
		if args := t.TypeArgs(); args != nil {
			for i := 0; i < args.Len(); i++ {
				if bad := internalIn(args.At(i), seen); bad != "" {
					return bad
				}
			}
		}
		return ""
	case *types.Pointer:
		return internalIn(t.Elem(), seen)
	case *types.Slice:
		return internalIn(t.Elem(), seen)
	case *types.Array:
		return internalIn(t.Elem(), seen)
	case *types.Map:
		if bad := internalIn(t.Key(), seen); bad != "" {
			return bad
		}
		return internalIn(t.Elem(), seen)
	case *types.Chan:
		return internalIn(t.Elem(), seen)
	case *types.Signature:
		for _, tuple := range []*types.Tuple{t.Params(), t.Results()} {
			for i := 0; i < tuple.Len(); i++ {
				if bad := internalIn(tuple.At(i).Type(), seen); bad != "" {
					return bad
				}
			}
		}
		return ""
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			if f := t.Field(i); f.Exported() {
				if bad := internalIn(f.Type(), seen); bad != "" {
					return bad
				}
			}
		}
		return ""
	case *types.Interface:
		for i := 0; i < t.NumMethods(); i++ {
			if m := t.Method(i); m.Exported() {
				if bad := internalIn(m.Type(), seen); bad != "" {
					return bad
				}
			}
		}
		for i := 0; i < t.NumEmbeddeds(); i++ {
			if bad := internalIn(t.EmbeddedType(i), seen); bad != "" {
				return bad
			}
		}
		return ""
	case *types.TypeParam:
		return internalIn(t.Constraint(), seen)
	}
	return ""
}
