// Package interop holds the tests that run azdurable beside Microsoft's C#
// Durable Task backend (the reference program dtfx-ref) on one Azurite:
// a Go worker finishing hubs a C# worker left in flight (the snapshot), a
// C# worker finishing instances a Go worker started, and one hub shared
// live by both languages.
//
// The tests carry the build tag interop and need the C# program; run them
// with `make interop`, or
//
//	DTFX_REF=/path/to/dtfx-ref go test -race -tags interop ./interop/
//
// Without $DTFX_REF the program is looked for at
// ../shared/csharp-reference/dtfx-ref from the repository root, and the
// snapshot (hub-snapshot.tar.gz) beside it or at $DTFX_SNAPSHOT. A missing
// program fails the tests; it never skips them.
//
// The entity test (entities_test.go) runs the Durable Functions extension
// itself, dfx-ref worker, whose HTTP API listens on a fixed port: it is
// found at $DFX_REF or ../shared/csharp-reference/dfx-ref, the test is
// skipped when it is absent, and it holds /tmp/dfx-ref.lock while it runs.
package interop
