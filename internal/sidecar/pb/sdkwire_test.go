package pb_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/azdurable/azdurable/internal/sidecar/pb"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// envRequireSDK makes TestWireMatchesJavaScriptSDK fail instead of skip
// when the SDK is not installed (make sidecar-test sets it).
const envRequireSDK = "AZDURABLE_SIDECAR_E2E"

// sdkDir is where make sidecar-test installs @microsoft/durabletask-js.
const sdkDir = "../e2e/node_modules/@microsoft/durabletask-js"

// TestWireMatchesJavaScriptSDK compares our protocol with the code that the
// JavaScript SDK pinned by the end-to-end suite was generated with: every
// message, field (name, number, label, type), enum value, oneof and method
// (path, streaming, request and response types) must be the same on both
// sides, so that each byte one side writes the other reads as meant.
func TestWireMatchesJavaScriptSDK(t *testing.T) {
	msgsJS, err := os.ReadFile(filepath.Join(sdkDir, "dist/proto/orchestrator_service_pb.js"))
	if err != nil {
		if os.Getenv(envRequireSDK) != "" {
			t.Fatalf("the JavaScript SDK is not installed (npm ci in internal/sidecar/e2e): %v", err)
		}
		t.Skipf("the JavaScript SDK is not installed (make sidecar-test installs it): %v", err)
	}
	svcJS, err := os.ReadFile(filepath.Join(sdkDir, "dist/proto/orchestrator_service_grpc_pb.js"))
	if err != nil {
		t.Fatal(err)
	}
	if pkg, err := os.ReadFile(filepath.Join(sdkDir, "package.json")); err == nil {
		var v struct{ Version string }
		_ = json.Unmarshal(pkg, &v)
		t.Logf("@microsoft/durabletask-js %s", v.Version)
	}
	fd := pb.File_taskhub_sidecar_proto
	compare(t, "fields", sdkFields(string(msgsJS)), ourFields(fd))
	compare(t, "messages", sdkMessages(string(msgsJS)), ourMessages(fd))
	compare(t, "enum values", sdkEnums(string(msgsJS)), ourEnums(fd))
	compare(t, "oneofs", sdkOneofs(string(msgsJS)), ourOneofs(fd))
	compare(t, "methods", sdkMethods(string(svcJS)), ourMethods(fd))
}

func compare(t *testing.T, what string, sdk, ours []string) {
	t.Helper()
	if len(sdk) == 0 {
		t.Errorf("%s: nothing found in the SDK's code (has its layout changed?)", what)
		return
	}
	for _, s := range sdk {
		if !slices.Contains(ours, s) {
			t.Errorf("%s: the SDK has %q, we do not", what, s)
		}
	}
	for _, s := range ours {
		if !slices.Contains(sdk, s) {
			t.Errorf("%s: we have %q, the SDK does not", what, s)
		}
	}
	t.Logf("%s: %d compared", what, len(sdk))
}

// The generated JavaScript declares each field in the comment of its
// getter: "/**\n * optional string name = 1;\n ...*/\nproto.Msg.prototype.get...".
var (
	fieldDecl = regexp.MustCompile(`(?m)^/\*\*\n \* ((?:optional|repeated) [\w.]+|map<[\w.]+, [\w.]+>) (\w+) = (\d+);\n(?: \*[^\n]*\n)* \*/\nproto\.(\w+)\.prototype\.get`)
	exported  = regexp.MustCompile(`goog\.exportSymbol\('proto\.(\w+)', null, global\);`)
	enumDecl  = regexp.MustCompile(`(?m)^proto\.(\w+) = \{\n((?:  \w+: \d+,?\n)+)\};`)
	caseDecl  = regexp.MustCompile(`(?m)^proto\.(\w+)\.(\w+)Case = \{\n((?:  \w+: \d+,?\n)+)\};`)
	entry     = regexp.MustCompile(`(\w+): (\d+)`)
	method    = regexp.MustCompile(`path: '/(\w+)/(\w+)',\s+requestStream: (\w+),\s+responseStream: (\w+),\s+requestType: (\w+)\.(\w+),\s+responseType: (\w+)\.(\w+),`)
)

func sdkFields(js string) []string {
	var out []string
	for _, m := range fieldDecl.FindAllStringSubmatch(js, -1) {
		out = append(out, fmt.Sprintf("%s: %s %s = %s", m[4], m[1], m[2], m[3]))
	}
	return out
}

func sdkMessages(js string) []string {
	enums := map[string]bool{}
	for _, m := range enumDecl.FindAllStringSubmatch(js, -1) {
		enums[m[1]] = true
	}
	var out []string
	for _, m := range exported.FindAllStringSubmatch(js, -1) {
		if !enums[m[1]] {
			out = append(out, m[1])
		}
	}
	return out
}

func sdkEnums(js string) []string {
	var out []string
	for _, m := range enumDecl.FindAllStringSubmatch(js, -1) {
		for _, e := range entry.FindAllStringSubmatch(m[2], -1) {
			out = append(out, m[1]+"."+e[1]+" = "+e[2])
		}
	}
	return out
}

func sdkOneofs(js string) []string {
	var out []string
	for _, m := range caseDecl.FindAllStringSubmatch(js, -1) {
		for _, e := range entry.FindAllStringSubmatch(m[3], -1) {
			out = append(out, m[1]+"."+m[2]+": "+e[1]+" = "+e[2])
		}
	}
	return out
}

func sdkMethods(js string) []string {
	typeName := func(module, name string) string {
		if strings.HasPrefix(module, "google_protobuf_") {
			return "google.protobuf." + name
		}
		return name
	}
	var out []string
	for _, m := range method.FindAllStringSubmatch(js, -1) {
		out = append(out, fmt.Sprintf("/%s/%s(%s stream=%s) returns (%s stream=%s)", m[1], m[2],
			typeName(m[5], m[6]), m[3], typeName(m[7], m[8]), m[4]))
	}
	return out
}

func typeOf(f protoreflect.FieldDescriptor) string {
	switch {
	case f.Message() != nil:
		return string(f.Message().FullName())
	case f.Enum() != nil:
		return string(f.Enum().FullName())
	}
	return f.Kind().String()
}

func ourFields(fd protoreflect.FileDescriptor) []string {
	var out []string
	msgs := fd.Messages()
	for i := 0; i < msgs.Len(); i++ {
		m := msgs.Get(i)
		fields := m.Fields()
		for j := 0; j < fields.Len(); j++ {
			f := fields.Get(j)
			var decl string
			switch {
			case f.IsMap():
				decl = fmt.Sprintf("map<%s, %s>", typeOf(f.MapKey()), typeOf(f.MapValue()))
			case f.Cardinality() == protoreflect.Repeated:
				decl = "repeated " + typeOf(f)
			default:
				decl = "optional " + typeOf(f)
			}
			out = append(out, fmt.Sprintf("%s: %s %s = %d", m.Name(), decl, f.Name(), f.Number()))
		}
	}
	return out
}

func ourMessages(fd protoreflect.FileDescriptor) []string {
	var out []string
	for i := 0; i < fd.Messages().Len(); i++ {
		out = append(out, string(fd.Messages().Get(i).Name()))
	}
	return out
}

func ourEnums(fd protoreflect.FileDescriptor) []string {
	var out []string
	for i := 0; i < fd.Enums().Len(); i++ {
		e := fd.Enums().Get(i)
		for j := 0; j < e.Values().Len(); j++ {
			v := e.Values().Get(j)
			out = append(out, fmt.Sprintf("%s.%s = %d", e.Name(), v.Name(), v.Number()))
		}
	}
	return out
}

func ourOneofs(fd protoreflect.FileDescriptor) []string {
	var out []string
	for i := 0; i < fd.Messages().Len(); i++ {
		m := fd.Messages().Get(i)
		for j := 0; j < m.Oneofs().Len(); j++ {
			o := m.Oneofs().Get(j)
			// The JavaScript generator names the case enum after the oneof,
			// first letter up, and its members after the fields, upper case.
			name := strings.ToUpper(string(o.Name())[:1]) + strings.ToLower(string(o.Name())[1:])
			out = append(out, fmt.Sprintf("%s.%s: %s_NOT_SET = 0", m.Name(), name, strings.ToUpper(string(o.Name()))))
			for k := 0; k < o.Fields().Len(); k++ {
				f := o.Fields().Get(k)
				out = append(out, fmt.Sprintf("%s.%s: %s = %s", m.Name(), name, strings.ToUpper(string(f.Name())), strconv.Itoa(int(f.Number()))))
			}
		}
	}
	return out
}

func ourMethods(fd protoreflect.FileDescriptor) []string {
	var out []string
	for i := 0; i < fd.Services().Len(); i++ {
		s := fd.Services().Get(i)
		for j := 0; j < s.Methods().Len(); j++ {
			m := s.Methods().Get(j)
			out = append(out, fmt.Sprintf("/%s/%s(%s stream=%t) returns (%s stream=%t)", s.FullName(), m.Name(),
				m.Input().FullName(), m.IsStreamingClient(), m.Output().FullName(), m.IsStreamingServer()))
		}
	}
	return out
}
