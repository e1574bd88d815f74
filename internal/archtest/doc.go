// Package archtest holds the test that keeps the package graph pointing
// down: each rule of docs/architecture.md ("package P must not import Q")
// is checked against the non-test imports that go list reports, followed
// transitively, so that a rule cannot be broken through a package in
// between. The package has no code of its own.
package archtest
