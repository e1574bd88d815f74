package sidecar

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/provider"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcError turns an error of package client or the backend into a gRPC
// status: refusals of the request keep their reason (InvalidArgument,
// NotFound, AlreadyExists, FailedPrecondition), a storage or backend fault
// is Unavailable (the SDKs may retry it), anything else Internal. Calls
// that give a sentinel another meaning map it before calling grpcError.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var pc *provider.PartitionCountError
	var re *azcore.ResponseError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, provider.ErrInvalid), errors.Is(err, provider.ErrPurgeNeedsStatuses):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, provider.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, provider.ErrInstanceExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, client.ErrNotFailed), errors.Is(err, client.ErrNotTerminal):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, client.ErrRewindNotSupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.As(err, &pc):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.As(err, &re):
		// The SDK's text dumps the whole HTTP exchange; keep what failed
		// and the service's answer.
		what := strings.TrimSuffix(err.Error(), re.Error())
		return status.Errorf(codes.Unavailable, "%sstorage answered %d %s", what, re.StatusCode, re.ErrorCode)
	case errors.As(err, &ne):
		// Storage cannot be reached (refused, reset, timed out): a fault
		// of the moment, as a 503.
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
