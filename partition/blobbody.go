package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/azdurable/azdurable/internal/netjson"
	"github.com/azdurable/azdurable/internal/taskhub"
)

// Lease types of the safe blob-lease manager: the blob of partition P is
// <hub>-leases/<type>/P.
const (
	LeaseIntent    = "intent"
	LeaseOwnership = "ownership"
)

// TaskHubInfoBlob is the name of the task-hub metadata blob in the
// <hub>-leases container.
const TaskHubInfoBlob = "taskhub.json"

// LeaseBody is the JSON content of a lease blob (Newtonsoft defaults, as C#
// writes it): {"PartitionId":…,"Owner":…,"Token":…,"Epoch":…}. Owner and
// Token are written as null when empty (released).
type LeaseBody struct {
	PartitionID string
	// Owner is the WorkerId of the holder.
	Owner string
	// Token is the blob lease id the holder uses; another worker steals the
	// lease with Change Lease from it.
	Token string
	// Epoch counts acquisitions.
	Epoch int64
}

// MarshalJSON writes the body byte for byte as C# does.
func (b LeaseBody) MarshalJSON() ([]byte, error) {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	w.Key("PartitionId")
	w.String(b.PartitionID)
	for _, m := range []struct{ name, v string }{{"Owner", b.Owner}, {"Token", b.Token}} {
		w.Key(m.name)
		if m.v == "" {
			w.Null()
		} else {
			w.String(m.v)
		}
	}
	w.Key("Epoch")
	w.Int(b.Epoch)
	w.EndObject()
	return w.Bytes(), nil
}

// UnmarshalJSON reads a body as Newtonsoft would (names in any case,
// unknown members ignored).
func (b *LeaseBody) UnmarshalJSON(data []byte) error {
	o, err := netjson.ParseObject(bytes.TrimPrefix(data, utf8BOM))
	if err != nil {
		return fmt.Errorf("lease blob: %w", err)
	}
	var out LeaseBody
	if out.PartitionID, err = o.String("PartitionId"); err != nil {
		return fmt.Errorf("lease blob: %w", err)
	}
	if out.Owner, err = o.String("Owner"); err != nil {
		return fmt.Errorf("lease blob: %w", err)
	}
	if out.Token, err = o.String("Token"); err != nil {
		return fmt.Errorf("lease blob: %w", err)
	}
	if e, err := o.NullableInt("Epoch", 64); err != nil {
		return fmt.Errorf("lease blob: %w", err)
	} else if e != nil {
		out.Epoch = *e
	}
	*b = out
	return nil
}

var utf8BOM = []byte("\ufeff")

// TaskHubInfo is the content of taskhub.json.
type TaskHubInfo struct {
	TaskHubName    string
	CreatedAt      time.Time
	PartitionCount int
}

// MarshalJSON writes {"TaskHubName":…,"CreatedAt":…,"PartitionCount":…}
// with CreatedAt in Newtonsoft's round-trip form.
func (i TaskHubInfo) MarshalJSON() ([]byte, error) {
	w := netjson.NewWriter(nil)
	w.BeginObject()
	w.Key("TaskHubName")
	w.String(i.TaskHubName)
	w.Key("CreatedAt")
	w.Time(i.CreatedAt)
	w.Key("PartitionCount")
	w.Int(int64(i.PartitionCount))
	w.EndObject()
	return w.Bytes(), nil
}

// UnmarshalJSON reads taskhub.json.
func (i *TaskHubInfo) UnmarshalJSON(data []byte) error {
	o, err := netjson.ParseObject(bytes.TrimPrefix(data, utf8BOM))
	if err != nil {
		return fmt.Errorf("taskhub.json: %w", err)
	}
	var out TaskHubInfo
	if out.TaskHubName, err = o.String("TaskHubName"); err != nil {
		return fmt.Errorf("taskhub.json: %w", err)
	}
	if t, err := o.NullableTime("CreatedAt"); err != nil {
		return fmt.Errorf("taskhub.json: %w", err)
	} else if t != nil {
		out.CreatedAt = *t
	}
	n, err := o.Int("PartitionCount", 32)
	if err != nil {
		return fmt.Errorf("taskhub.json: %w", err)
	}
	out.PartitionCount = int(n)
	*i = out
	return nil
}

// ErrNoTaskHubInfo is wrapped by [ReadTaskHubInfo] when taskhub.json (or its
// container) does not exist.
var ErrNoTaskHubInfo = errors.New("partition: taskhub.json does not exist")

// ReadTaskHubInfo reads <hub>-leases/taskhub.json. C# readers take the
// hub's partition count from it only when the Partitions table is absent.
func ReadTaskHubInfo(ctx context.Context, blobs *azblob.Client, taskHub string) (TaskHubInfo, error) {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return TaskHubInfo{}, err
	}
	data, err := download(ctx, blobs.ServiceClient().NewContainerClient(names.LeasesContainer()).NewBlobClient(TaskHubInfoBlob))
	if err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return TaskHubInfo{}, fmt.Errorf("read %s/%s: %w", names.LeasesContainer(), TaskHubInfoBlob, ErrNoTaskHubInfo)
		}
		return TaskHubInfo{}, fmt.Errorf("read %s/%s: %w", names.LeasesContainer(), TaskHubInfoBlob, err)
	}
	var info TaskHubInfo
	err = info.UnmarshalJSON(data)
	return info, err
}

// CreateLeaseStore creates what the safe blob-lease manager needs, as C#
// does at hub creation: the <hub>-leases container, taskhub.json (created
// with If-None-Match: *; an existing one whose hub name or partition count
// differs is overwritten with a warning), and the intent and ownership
// lease blobs of partitions 0..n-1 (created with If-None-Match: *; existing
// ones are left alone).
func CreateLeaseStore(ctx context.Context, blobs *azblob.Client, taskHub string, n int, log *slog.Logger) error {
	names, err := taskhub.NewNames(taskHub)
	if err != nil {
		return err
	}
	if err := taskhub.ValidatePartitionCount(n); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	cc := blobs.ServiceClient().NewContainerClient(names.LeasesContainer())
	if err := createContainer(ctx, cc); err != nil {
		return err
	}
	if err := ensureTaskHubInfo(ctx, cc, names, n, log); err != nil {
		return err
	}
	for _, kind := range []string{LeaseIntent, LeaseOwnership} {
		for _, p := range names.ControlQueues(n) {
			body, _ := LeaseBody{PartitionID: p}.MarshalJSON()
			if err := uploadIfAbsent(ctx, cc.NewBlockBlobClient(kind+"/"+p), body); err != nil {
				return fmt.Errorf("create lease blob %s/%s: %w", kind, p, err)
			}
		}
	}
	return nil
}

func ensureTaskHubInfo(ctx context.Context, cc *container.Client, names taskhub.Names, n int, log *slog.Logger) error {
	want := TaskHubInfo{TaskHubName: names.TaskHub(), CreatedAt: time.Now().UTC(), PartitionCount: n}
	body, _ := want.MarshalJSON()
	bb := cc.NewBlockBlobClient(TaskHubInfoBlob)
	if err := uploadIfAbsent(ctx, bb, body); err != nil {
		return fmt.Errorf("create %s: %w", TaskHubInfoBlob, err)
	}
	data, err := download(ctx, bb.BlobClient())
	if err != nil {
		return fmt.Errorf("read %s: %w", TaskHubInfoBlob, err)
	}
	var have TaskHubInfo
	if err := have.UnmarshalJSON(data); err == nil && strings.EqualFold(have.TaskHubName, want.TaskHubName) && have.PartitionCount == n {
		return nil
	}
	log.Warn("partition: taskhub.json is stale or unreadable; overwriting it",
		"blob", names.LeasesContainer()+"/"+TaskHubInfoBlob, "found_hub", have.TaskHubName,
		"found_partitions", have.PartitionCount, "partitions", n)
	if _, err := bb.Upload(ctx, readSeekCloser(body), nil); err != nil {
		return fmt.Errorf("overwrite %s: %w", TaskHubInfoBlob, err)
	}
	return nil
}

func createContainer(ctx context.Context, cc *container.Client) error {
	if _, err := cc.Create(ctx, nil); err != nil && !hasStatus(err, http.StatusConflict) {
		return fmt.Errorf("create container: %w", err)
	}
	return nil
}

// uploadIfAbsent creates a blob with If-None-Match: *; a blob that exists
// already (409, or 412 from some services) is not an error.
func uploadIfAbsent(ctx context.Context, bb *blockblob.Client, body []byte) error {
	_, err := bb.Upload(ctx, readSeekCloser(body), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	})
	if err != nil && !hasStatus(err, http.StatusConflict, http.StatusPreconditionFailed) {
		return err
	}
	return nil
}

func download(ctx context.Context, bc *blob.Client) ([]byte, error) {
	resp, err := bc.DownloadStream(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

type bytesReadSeekCloser struct{ *bytes.Reader }

func (bytesReadSeekCloser) Close() error { return nil }

func readSeekCloser(b []byte) io.ReadSeekCloser { return bytesReadSeekCloser{bytes.NewReader(b)} }
