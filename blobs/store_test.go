package blobs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/azdurable/azdurable/internal/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// newStore returns a Store for a fresh hub's large-message container, which
// does not exist yet, and the blob service client it was built from.
func newStore(t *testing.T) (*Store, *azblob.Client) {
	t.Helper()
	svc, err := azuritetest.Account(t).BlobService(nil)
	if err != nil {
		t.Fatal(err)
	}
	hub := azuritetest.NewHub(t)
	return New(svc, strings.ToLower(hub)+"-largemessages", nil), svc
}

func containerExists(t *testing.T, svc *azblob.Client, name string) bool {
	t.Helper()
	_, err := svc.ServiceClient().NewContainerClient(name).GetProperties(t.Context(), nil)
	if err == nil {
		return true
	}
	if !isNotFound(err) {
		t.Fatal(err)
	}
	return false
}

// TestUploadDownloadLarge round-trips 1 MiB of incompressible data and
// checks that the stored bytes are gzip of it (what a C# reader gunzips).
func TestUploadDownloadLarge(t *testing.T) {
	t.Parallel()
	s, svc := newStore(t)
	ctx := t.Context()
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	const name = "order-1/message-0f8fad5bd9cb469fa16570867728950e-ExecutionStarted.json.gz"
	if err := s.UploadGzip(ctx, name, payload); err != nil {
		t.Fatal(err)
	}
	got, err := s.DownloadGzip(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(got), len(payload))
	}
	// Read the raw blob with the SDK: it must be a gzip stream of the
	// payload, stored as a block blob without a Content-Encoding.
	bc := svc.ServiceClient().NewContainerClient(s.Container()).NewBlobClient(name)
	resp, err := bc.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := Decompress(raw); err != nil || !bytes.Equal(plain, payload) {
		t.Fatalf("stored bytes are not gzip of the payload: %v", err)
	}
	if resp.BlobType == nil || *resp.BlobType != blob.BlobTypeBlockBlob {
		t.Errorf("blob type = %v, want BlockBlob", resp.BlobType)
	}
	if resp.ContentEncoding != nil && *resp.ContentEncoding != "" {
		t.Errorf("Content-Encoding = %q, C# sets none", *resp.ContentEncoding)
	}
	// Overwrite is allowed.
	if err := s.UploadGzip(ctx, name, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DownloadGzip(ctx, name); err != nil || string(got) != "second" {
		t.Fatalf("after overwrite: %q, %v", got, err)
	}
}

// TestLazyContainer: nothing exists before the first upload, the upload
// creates the container, and an upload after someone deleted the container
// creates it again instead of failing.
func TestLazyContainer(t *testing.T) {
	t.Parallel()
	s, svc := newStore(t)
	ctx := t.Context()
	if containerExists(t, svc, s.Container()) {
		t.Fatal("container exists before any upload")
	}
	if ok, err := s.Exists(ctx, "a/b"); err != nil || ok {
		t.Fatalf("Exists on a missing container = %v, %v", ok, err)
	}
	if err := s.UploadGzip(ctx, "a/b", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if !containerExists(t, svc, s.Container()) {
		t.Fatal("container missing after upload")
	}
	if ok, err := s.Exists(ctx, "a/b"); err != nil || !ok {
		t.Fatalf("Exists after upload = %v, %v", ok, err)
	}
	if _, err := svc.DeleteContainer(ctx, s.Container(), nil); err != nil {
		t.Fatal(err)
	}
	// Azure keeps a deleted container's name busy for a while
	// (ContainerBeingDeleted); Azurite frees it at once. Wait until the
	// container is gone before uploading.
	azuritetest.WaitFor(t, 2*time.Minute, "container deletion", func() (bool, error) {
		return !containerExists(t, svc, s.Container()), nil
	})
	if err := s.UploadGzip(ctx, "a/c", []byte("2")); err != nil {
		t.Fatalf("upload after the container was deleted: %v", err)
	}
	if got, err := s.DownloadGzip(ctx, "a/c"); err != nil || string(got) != "2" {
		t.Fatalf("download = %q, %v", got, err)
	}
}

// TestDeletePrefix deletes one instance's blobs and leaves those of an
// instance whose id extends it ("abc/" vs "abcd/").
func TestDeletePrefix(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	if n, err := s.DeletePrefix(ctx, "abc/"); err != nil || n != 0 {
		t.Fatalf("DeletePrefix on a missing container = %d, %v", n, err)
	}
	mine := []string{"abc/message-1-ExecutionStarted.json.gz", "abc/history-01-TaskCompleted-0A-Result.json.gz", "abc/x/y"}
	others := []string{"abcd/message-2-ExecutionStarted.json.gz", "ab/message-3.json.gz", "abc"}
	for _, n := range append(slices.Clone(mine), others...) {
		if err := s.UploadGzip(ctx, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeletePrefix(ctx, "abc/")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(mine) {
		t.Errorf("deleted %d blobs, want %d", n, len(mine))
	}
	for _, name := range mine {
		if ok, err := s.Exists(ctx, name); err != nil || ok {
			t.Errorf("%s: exists = %v, %v after purge", name, ok, err)
		}
	}
	for _, name := range others {
		if got, err := s.DownloadGzip(ctx, name); err != nil || string(got) != name {
			t.Errorf("%s: %q, %v; another instance's blob was touched", name, got, err)
		}
	}
	if n, err := s.DeletePrefix(ctx, "abc/"); err != nil || n != 0 {
		t.Errorf("second DeletePrefix = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.DeletePrefix(ctx, ""); err == nil {
		t.Error("DeletePrefix(\"\") was accepted")
	}
}

// TestDeletePrefixConcurrent runs two purges of the same prefix at once:
// both succeed and together they delete each blob exactly once.
func TestDeletePrefixConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	const count = 40
	for i := range count {
		if err := s.UploadGzip(ctx, "inst/"+string(rune('a'+i%26))+strings.Repeat("z", i/26), nil); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		n   int
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			n, err := s.DeletePrefix(ctx, "inst/")
			results <- result{n, err}
		}()
	}
	total := 0
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		total += r.n
	}
	if total != count {
		t.Fatalf("the two purges deleted %d blobs together, want %d", total, count)
	}
}

// TestTruncatedBlob: a blob whose gzip stream is cut short (as a crashed
// writer could leave it) gives an error that wraps ErrCorrupt and names the
// blob and container; a missing blob gives ErrNotFound.
func TestTruncatedBlob(t *testing.T) {
	t.Parallel()
	s, svc := newStore(t)
	ctx := t.Context()
	if err := s.UploadGzip(ctx, "seed", nil); err != nil { // creates the container
		t.Fatal(err)
	}
	gz := Compress(bytes.Repeat([]byte("history column "), 1000))
	const name = "inst-1/history-0000000000000005-TaskCompleted-607C896C-Result.json.gz"
	bb := svc.ServiceClient().NewContainerClient(s.Container()).NewBlockBlobClient(name)
	if _, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(gz[:len(gz)/2])), nil); err != nil {
		t.Fatal(err)
	}
	_, err := s.DownloadGzip(ctx, name)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, s.Container()) || !strings.Contains(msg, "truncated") {
		t.Errorf("error %q does not name the blob, its container and the defect", msg)
	}
	var be *Error
	if !errors.As(err, &be) || be.Blob != name || be.Op != "download" {
		t.Errorf("error is not a *blobs.Error for %s: %#v", name, be)
	}
	_, err = s.DownloadGzip(ctx, "inst-1/missing.json.gz")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "inst-1/missing.json.gz") {
		t.Fatalf("missing blob: err = %v, want ErrNotFound naming the blob", err)
	}
}

// TestDownloadMissingContainer: before anything was uploaded the container
// does not exist; a download reports the blob as not found.
func TestDownloadMissingContainer(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	if _, err := s.DownloadGzip(t.Context(), "x/y"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// TestURLAddressesBlob stores blobs whose names hold spaces, '#', '?', '%'
// and non-ASCII text and checks, against the service, that URL(name) is the
// address of exactly that blob (read through a client built from the URL
// alone) and that the service lists the names unchanged.
func TestURLAddressesBlob(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	names := []string{
		"my order/message-1-ExecutionStarted.json.gz",
		"a#b?c%d/message-2-TaskCompleted.json.gz",
		"100%/50%25",
		"Ünïcödé-实例-🚀/message-3-EventRaised.json.gz",
		"@counter@my key/m+1",
	}
	for _, n := range names {
		if err := s.UploadGzip(ctx, n, []byte("content of "+n)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	query := sasQuery(t, s.Container())
	for _, n := range names {
		u := s.URL(n)
		if back, err := s.NameFromURL(u); err != nil || back != n {
			t.Errorf("NameFromURL(URL(%q)) = %q, %v", n, back, err)
		}
		bc, err := blob.NewClientWithNoCredential(u+"?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := bc.DownloadStream(ctx, nil)
		if err != nil {
			t.Errorf("%s: GET %s: %v", n, u, err)
			continue
		}
		raw, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Decompress(raw); err != nil || string(got) != "content of "+n {
			t.Errorf("%s: URL %s addresses other content: %q, %v", n, u, got, err)
		}
	}
	var listed []string
	pager := s.client.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			listed = append(listed, *it.Name)
		}
	}
	slices.Sort(listed)
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(listed, want) {
		t.Errorf("listed %q, want %q", listed, want)
	}
}

// sasQuery returns a read SAS for the container, made from the harness's
// connection string (the Account deliberately hides its key).
func sasQuery(t *testing.T, containerName string) string {
	t.Helper()
	cc, err := container.NewClientFromConnectionString(azuritetest.ConnectionString(t), containerName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(cc.URL()); err == nil && u.RawQuery != "" {
		return u.RawQuery // the connection string already carries a SAS
	}
	signed, err := cc.GetSASURL(sas.ContainerPermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatalf("make a SAS for the test: %v", err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	return u.RawQuery
}
