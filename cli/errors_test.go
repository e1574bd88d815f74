package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/azdurable/azdurable/internal/azuritetest"
)

// rawDump matches what the SDK's error text carries and a person should
// never see: its separator lines, the RESPONSE header, the XML body and the
// request ids.
var rawDump = regexp.MustCompile(`-----|RESPONSE \d|<\?xml|<Error>|RequestId|ERROR CODE`)

// withCredential replaces the key (or adds a SAS) in an Azurite connection
// string.
func withCredential(t *testing.T, cs, credential string) string {
	t.Helper()
	var parts []string
	for _, p := range strings.Split(cs, ";") {
		if strings.HasPrefix(p, "AccountKey=") {
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(append(parts, credential), ";")
}

// TestRefusedCredentialsAreOneReadableLine runs every storage command with
// a wrong key and with a bad SAS on Azurite: each must print one line with
// the status, the code and what to do, never the SDK's dump or the SAS.
func TestRefusedCredentialsAreOneReadableLine(t *testing.T) {
	cs := azuritetest.ConnectionString(t)
	hub := azuritetest.NewHub(t)
	wrongKey := withCredential(t, cs, "AccountKey="+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 64))))
	badSAS := withCredential(t, cs, "SharedAccessSignature=sv=2023-11-03&ss=bqt&srt=sco&sp=rwdlacup&se=2099-01-01T00:00:00Z&sig=TOPSECRETSIG")
	commands := [][]string{
		{"instances", "start", "HelloCities"},
		{"instances", "list"},
		{"instances", "show", "x"},
		{"instances", "history", "x"},
		{"instances", "raise", "x", "e"},
		{"instances", "terminate", "x"},
		{"instances", "purge", "x"},
		{"hub", "info"},
		{"hub", "create"},
		{"hub", "delete", "--yes"},
	}
	for name, conn := range map[string]string{"wrong key": wrongKey, "bad SAS": badSAS} {
		for _, args := range commands {
			code, out, errOut := run(t, "", append(args, "--task-hub", hub, "--connection-string", conn)...)
			what := name + ": " + strings.Join(args, " ")
			if code != 1 || out != "" {
				t.Errorf("%s: exit %d, stdout %q", what, code, out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "azdurable: 403 ") ||
				!strings.Contains(errOut, "check the account key or SAS") || rawDump.MatchString(errOut) ||
				strings.Contains(errOut, "TOPSECRETSIG") {
				t.Errorf("%s: stderr %q, want one line: azdurable: 403 <code>: ... check the account key or SAS ...", what, errOut)
			}
		}
	}
}

func TestErrorLine(t *testing.T) {
	storageAnswer := func(status int, code, body, rawURL string) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		resp := &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
			Header: http.Header{"X-Ms-Error-Code": {code}, "Content-Type": {"application/xml"}},
			Body:   io.NopCloser(strings.NewReader(body)), Request: &http.Request{Method: http.MethodGet, URL: u}}
		return runtime.NewResponseError(resp)
	}
	xmlBody := func(code, msg string) string {
		return `<?xml version="1.0" encoding="utf-8"?><Error><Code>` + code + `</Code><Message>` + msg +
			"\nRequestId:0d6b-1\nTime:2026-12-01T00:00:00Z</Message></Error>"
	}
	refused := &url.Error{Op: "Get", URL: "https://acct.blob.core.windows.net/c?restype=container&sig=TOPSECRETSIG",
		Err: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1},
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"a control character refused by Azure, wrapped",
			fmt.Errorf("purge %q: %w", "a\x01b", storageAnswer(400, "InvalidInput", xmlBody("InvalidInput", "One of the request inputs is not valid."),
				"https://acct.blob.core.windows.net/hub-largemessages?restype=container&comp=list&prefix=a%01b&sig=TOPSECRETSIG")),
			`azdurable: 400 InvalidInput: storage refused the request as invalid (a name or id it cannot store?) (purge "a\x01b": GET /hub-largemessages)`},
		{"an answer without advice keeps the service's message",
			storageAnswer(409, "LeaseAlreadyPresent", xmlBody("LeaseAlreadyPresent", "There is already a lease present."), "https://acct.blob.core.windows.net/c/b"),
			"azdurable: 409 LeaseAlreadyPresent: There is already a lease present. (GET /c/b)"},
		{"forbidden without a code",
			storageAnswer(403, "", "", "https://acct.queue.core.windows.net/q/messages"),
			"azdurable: 403 Forbidden: the storage account refused the request; check the account key or SAS and its permissions (GET /q/messages)"},
		{"refused connection", fmt.Errorf("read HubPartitions: %w", refused),
			"azdurable: cannot connect to storage 127.0.0.1:1 (connection refused); check the endpoints, or start Azurite (make azurite, or --local) (read HubPartitions)"},
		{"unknown host", &url.Error{Op: "Get", URL: "https://nosuch.table.core.windows.net/T()?sig=TOPSECRETSIG",
			Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nosuch.table.core.windows.net", IsNotFound: true}}},
			"azdurable: cannot resolve the storage host nosuch.table.core.windows.net; check the account name and the endpoints of the connection string"},
		{"interrupted", &url.Error{Op: "Get", URL: "https://a.queue.core.windows.net/q", Err: context.Canceled},
			"azdurable: interrupted while talking to storage a.queue.core.windows.net"},
		{"anything else stays itself, on one line", errors.New("instance \"x\" not found\nsecond line"),
			`azdurable: instance "x" not found second line`},
		{"a URL query in any other error is removed", errors.New(`Get "https://a.blob.core.windows.net/c?sv=1&sig=TOPSECRETSIG": EOF`),
			`azdurable: Get "https://a.blob.core.windows.net/c?[query removed]": EOF`},
	} {
		var b strings.Builder
		printError(&b, c.err)
		if got := b.String(); got != c.want+"\n" {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want+"\n")
		}
		if strings.Contains(b.String(), "TOPSECRETSIG") {
			t.Errorf("%s: the SAS was printed", c.name)
		}
	}
	if !credentialsRefused(fmt.Errorf("x: %w", storageAnswer(403, "AuthenticationFailed", "", "https://a.queue.core.windows.net/q"))) ||
		credentialsRefused(refused) || credentialsRefused(errors.New("403")) {
		t.Error("credentialsRefused")
	}
}
