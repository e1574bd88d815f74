package blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// ErrNotFound is wrapped by errors about a blob (or its container) that does
// not exist.
var ErrNotFound = errors.New("blob not found")

// Error describes a failed blob operation. It names the container and blob
// and wraps the cause: ErrNotFound, ErrCorrupt, or the SDK's
// *azcore.ResponseError.
type Error struct {
	// Op is the operation: "upload", "download", "delete", "list",
	// "get properties" or "create container".
	Op        string
	Container string
	// Blob is empty for container operations.
	Blob string
	Err  error
}

func (e *Error) Error() string {
	if e.Blob == "" {
		return fmt.Sprintf("blobs: %s %q: %v", e.Op, e.Container, e.Err)
	}
	return fmt.Sprintf("blobs: %s blob %q in container %q: %v", e.Op, e.Blob, e.Container, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Logger receives debug and warning records; nil means slog.Default().
	Logger *slog.Logger
}

// Store reads and writes gzip blobs in one container. It is safe for
// concurrent use.
type Store struct {
	client *container.Client
	name   string
	log    *slog.Logger

	// created is set once the container is known to exist, so uploads
	// after the first cost one request; createMu keeps concurrent first
	// uploads from each creating it.
	created  atomic.Bool
	createMu sync.Mutex
}

// New returns a Store for the container named containerName in the blob
// service svc (for example storage.Account.BlobService). Nothing is sent
// until the first operation.
func New(svc *azblob.Client, containerName string, o *Options) *Store {
	var log *slog.Logger
	if o != nil {
		log = o.Logger
	}
	if log == nil {
		log = slog.Default()
	}
	return &Store{
		client: svc.ServiceClient().NewContainerClient(containerName),
		name:   containerName,
		log:    log.With("container", containerName),
	}
}

// Container returns the container's name.
func (s *Store) Container() string { return s.name }

// UploadGzip gzip-compresses data and stores it as the block blob name,
// replacing any blob of that name. The container is created first if this
// Store has not seen it yet, and once more if the upload finds it missing
// (someone deleted it meanwhile).
func (s *Store) UploadGzip(ctx context.Context, name string, data []byte) error {
	if name == "" {
		return &Error{Op: "upload", Container: s.name, Err: errors.New("empty blob name")}
	}
	gz := Compress(data)
	if err := s.ensureContainer(ctx); err != nil {
		return err
	}
	err := s.put(ctx, name, gz)
	if errorCode(err) == "ContainerNotFound" {
		s.log.Warn("large-message container vanished; creating it again", "blob", name)
		s.created.Store(false)
		if err := s.ensureContainer(ctx); err != nil {
			return err
		}
		err = s.put(ctx, name, gz)
	}
	if err != nil {
		return &Error{Op: "upload", Container: s.name, Blob: name, Err: err}
	}
	return nil
}

func (s *Store) put(ctx context.Context, name string, gz []byte) error {
	// Upload is a single Put Blob for bodies below the 5000 MiB limit. The
	// body is seekable, so the SDK can retry it.
	_, err := s.client.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(gz)), nil)
	return err
}

func (s *Store) ensureContainer(ctx context.Context) error {
	if s.created.Load() {
		return nil
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if s.created.Load() {
		return nil
	}
	_, err := s.client.Create(ctx, nil)
	switch errorCode(err) {
	case "":
		if err != nil {
			return &Error{Op: "create container", Container: s.name, Err: err}
		}
		s.log.Debug("created large-message container")
	case "ContainerAlreadyExists":
	case "ContainerBeingDeleted":
		return &Error{Op: "create container", Container: s.name,
			Err: fmt.Errorf("the container is being deleted (task hub deletion in progress?); retry later: %w", err)}
	default:
		return &Error{Op: "create container", Container: s.name, Err: err}
	}
	s.created.Store(true)
	return nil
}

// DownloadGzip downloads the blob name and returns its gunzipped content.
// A missing blob or container gives an error wrapping ErrNotFound; content
// that is not a valid gzip stream gives one wrapping ErrCorrupt. Both name
// the blob.
func (s *Store) DownloadGzip(ctx context.Context, name string) ([]byte, error) {
	if name == "" {
		return nil, &Error{Op: "download", Container: s.name, Err: errors.New("empty blob name")}
	}
	resp, err := s.client.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, &Error{Op: "download", Container: s.name, Blob: name, Err: notFoundOr(err)}
	}
	// The retry reader resumes a body cut off by the network, so a dropped
	// connection is not mistaken for a truncated blob.
	body := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3})
	gz, err := io.ReadAll(body)
	_ = body.Close()
	if err != nil {
		return nil, &Error{Op: "download", Container: s.name, Blob: name, Err: fmt.Errorf("read body: %w", err)}
	}
	data, err := Decompress(gz)
	if err != nil {
		return nil, &Error{Op: "download", Container: s.name, Blob: name, Err: err}
	}
	return data, nil
}

// Exists reports whether the blob name exists. A missing container counts
// as a missing blob.
func (s *Store) Exists(ctx context.Context, name string) (bool, error) {
	if name == "" {
		return false, &Error{Op: "get properties", Container: s.name, Err: errors.New("empty blob name")}
	}
	_, err := s.client.NewBlobClient(name).GetProperties(ctx, nil)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, &Error{Op: "get properties", Container: s.name, Blob: name, Err: err}
}

// deleteParallelism bounds the concurrent deletes of DeletePrefix: enough
// to hide latency, few enough not to flood a small account.
const deleteParallelism = 8

// DeletePrefix deletes every blob whose name starts with prefix and returns
// how many it deleted. Blobs that vanish meanwhile (another purge) are not
// errors and not counted; neither is a missing container. An empty prefix
// is refused, because it would empty the whole container. Purge callers
// should pass instanceID+"/": C#'s prefix without the slash also matches
// other instances whose ids extend this one.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, &Error{Op: "delete", Container: s.name, Err: errors.New("refusing to delete with an empty prefix (it would delete every blob in the container)")}
	}
	var deleted atomic.Int64
	pager := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if isNotFound(err) {
				break
			}
			return int(deleted.Load()), &Error{Op: "list", Container: s.name, Blob: prefix + "*", Err: err}
		}
		var names []string
		for _, item := range page.Segment.BlobItems {
			if item.Name != nil {
				names = append(names, *item.Name)
			}
		}
		if err := s.deleteAll(ctx, names, &deleted); err != nil {
			return int(deleted.Load()), err
		}
	}
	if n := deleted.Load(); n > 0 {
		s.log.Debug("deleted blobs", "prefix", prefix, "count", n)
	}
	return int(deleted.Load()), nil
}

func (s *Store) deleteAll(ctx context.Context, names []string, deleted *atomic.Int64) error {
	sem := make(chan struct{}, deleteParallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, name := range names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := s.client.NewBlobClient(name).Delete(ctx, &blob.DeleteOptions{
				DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude),
			})
			switch {
			case err == nil:
				deleted.Add(1)
			case isNotFound(err):
			default:
				mu.Lock()
				errs = append(errs, &Error{Op: "delete", Container: s.name, Blob: name, Err: err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// errorCode returns the storage error code of an SDK error, or "".
func errorCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func isNotFound(err error) bool {
	switch errorCode(err) {
	case "BlobNotFound", "ContainerNotFound":
		return true
	}
	var re *azcore.ResponseError
	// HEAD answers carry no body; the code is in a header that proxies may
	// drop, so a bare 404 means the same.
	return errors.As(err, &re) && re.StatusCode == 404
}

// notFoundOr replaces a not-found SDK error by ErrNotFound (keeping the code
// in the text) and returns other errors unchanged.
func notFoundOr(err error) error {
	if !isNotFound(err) {
		return err
	}
	if code := errorCode(err); code != "" {
		return fmt.Errorf("%w (%s)", ErrNotFound, code)
	}
	return ErrNotFound
}
