// Package pb is the Go code of the Durable Task SDKs' gRPC protocol
// (service TaskHubSidecarService), generated from taskhub_sidecar.proto by
// make proto and committed, so that building needs no protoc; make
// proto-check fails when the committed code is stale. The .proto file
// records which protocol revision it matches. Only this file is written by
// hand.
package pb
