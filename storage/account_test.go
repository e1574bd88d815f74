package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// staticToken is a TokenCredential that never talks to Azure AD; it lets the
// token paths be constructed without a network.
type staticToken struct{ secret string }

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("staticToken: not for requests")
}

func TestFromAccountName(t *testing.T) {
	a, err := FromAccountName("myacct", staticToken{})
	if err != nil {
		t.Fatal(err)
	}
	want := Endpoints{
		Blob:  "https://myacct.blob.core.windows.net",
		Queue: "https://myacct.queue.core.windows.net",
		Table: "https://myacct.table.core.windows.net",
	}
	if a.Endpoints() != want || a.Name() != "myacct" || a.cred.kind != credToken {
		t.Errorf("got %v", a)
	}
	for _, bad := range []string{"", "ab", "UPPER", "has-dash", strings.Repeat("a", 25)} {
		if _, err := FromAccountName(bad, staticToken{}); err == nil {
			t.Errorf("FromAccountName(%q) succeeded", bad)
		}
	}
	if _, err := FromAccountName("myacct", nil); err == nil {
		t.Error("FromAccountName with nil credential succeeded")
	}
}

func TestFromEndpoints(t *testing.T) {
	a, err := FromEndpoints(Endpoints{
		Queue: "https://priv.queue.core.usgovcloudapi.net/",
		Table: "https://priv.table.core.usgovcloudapi.net",
	}, staticToken{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "priv" {
		t.Errorf("name = %q, want priv", a.Name())
	}
	if got := a.Endpoints().Queue; got != "https://priv.queue.core.usgovcloudapi.net" {
		t.Errorf("queue endpoint = %q", got)
	}
	if _, err := a.BlobService(nil); err == nil || !strings.Contains(err.Error(), "no blob endpoint") {
		t.Errorf("BlobService without endpoint: err = %v", err)
	}
	if _, err := FromEndpoints(Endpoints{}, staticToken{}); err == nil {
		t.Error("FromEndpoints with no endpoints succeeded")
	}
	if _, err := FromEndpoints(Endpoints{Blob: "ftp://x"}, staticToken{}); err == nil {
		t.Error("FromEndpoints with ftp endpoint succeeded")
	}
	if _, err := FromEndpoints(Endpoints{Blob: "https://x.blob.core.windows.net"}, nil); err == nil {
		t.Error("FromEndpoints with nil credential succeeded")
	}
}

// TestClientsForEachCredential builds all three clients for every kind of
// credential; construction needs no network.
func TestClientsForEachCredential(t *testing.T) {
	shared, err := ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		t.Fatal(err)
	}
	sas, err := ParseConnectionString("AccountName=sasacct;SharedAccessSignature=sv=2022-11-02&sig=abc")
	if err != nil {
		t.Fatal(err)
	}
	token, err := FromAccountName("tokacct", staticToken{})
	if err != nil {
		t.Fatal(err)
	}
	opts := &ClientOptions{Retry: &policy.RetryOptions{MaxRetries: -1}}
	for _, a := range []*Account{shared, sas, token} {
		for _, o := range []*ClientOptions{nil, opts} {
			q, err := a.QueueService(o)
			if err != nil {
				t.Fatalf("%v: QueueService: %v", a, err)
			}
			tb, err := a.TableService(o)
			if err != nil {
				t.Fatalf("%v: TableService: %v", a, err)
			}
			b, err := a.BlobService(o)
			if err != nil {
				t.Fatalf("%v: BlobService: %v", a, err)
			}
			if tb == nil {
				t.Fatalf("%v: TableService returned nil", a)
			}
			// aztables clients do not expose their URL; queue and blob do.
			for _, got := range []struct{ url, endpoint string }{
				{q.URL(), a.Endpoints().Queue},
				{b.URL(), a.Endpoints().Blob},
			} {
				if !strings.HasPrefix(got.url, got.endpoint) {
					t.Errorf("%v: client URL %q does not start with %q", a, got.url, got.endpoint)
				}
			}
		}
	}
}

func TestZeroAccount(t *testing.T) {
	var a Account
	if _, err := a.QueueService(nil); err == nil {
		t.Error("QueueService on zero Account succeeded")
	}
	var nilAcct *Account
	if _, err := nilAcct.TableService(nil); err == nil {
		t.Error("TableService on nil Account succeeded")
	}
	if s := a.String(); !strings.Contains(s, "none") {
		t.Errorf("zero Account String = %q", s)
	}
}

// Canaries: values that must never show up in text produced by this package.
var (
	canaryKey = base64.StdEncoding.EncodeToString([]byte("CANARY-KEY-7f3a9c-do-not-print"))
	canarySig = "CANARYSIG7f3a9c+/="
	canarySAS = "sv=2022-11-02&ss=bqt&sp=rwdl&se=2030-01-01&sig=" + url.QueryEscape(canarySig)
)

func assertNoCanary(t *testing.T, what, text string) {
	t.Helper()
	for _, c := range []string{canaryKey, canarySig, url.QueryEscape(canarySig), canarySAS, "CANARY"} {
		if strings.Contains(text, c) {
			t.Errorf("%s leaks a secret (%q): %s", what, c, text)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	// Malformed strings that carry the canary in every position we can think
	// of: the error must say what is wrong without repeating it.
	bad := []string{
		"AccountName=myacct;AccountKey=" + canaryKey + "!!",
		"AccountName=myacct;AccountKey=" + canaryKey + ";SharedAccessSignature=" + canarySAS,
		"AccountKey=" + canaryKey,
		"AccountName=myacct;" + canaryKey,
		"AccountName=myacct;Unknown=" + canaryKey,
		"AccountName=myacct;" + canaryKey + "=x",
		"AccountName=myacct;AccountKey=" + canaryKey + ";AccountKey=" + canaryKey,
		"SharedAccessSignature=" + canarySAS,
		"SharedAccessSignature=" + canarySAS + "%zz;BlobEndpoint=https://x.blob.core.windows.net",
		"SharedAccessSignature=" + canarySAS + ";BlobEndpoint=https://x.blob.core.windows.net/?" + canarySAS,
		"SharedAccessSignature=" + canarySAS + ";QueueEndpoint=CANARY" + canaryKey,
		"UseDevelopmentStorage=" + canaryKey,
		"UseDevelopmentStorage=true;AccountKey=" + canaryKey,
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=" + canaryKey,
		"DefaultEndpointsProtocol=" + canaryKey + ";AccountName=myacct;AccountKey=" + canaryKey,
		"AccountName=" + canaryKey + ";AccountKey=" + canaryKey,
		"AccountName=myacct;AccountKey=" + canaryKey + ";EndpointSuffix=" + canaryKey + "/x",
	}
	for i, in := range bad {
		_, err := ParseConnectionString(in)
		if err == nil {
			t.Errorf("case %d: ParseConnectionString succeeded", i)
			continue
		}
		assertNoCanary(t, fmt.Sprintf("case %d error", i), err.Error())
		assertNoCanary(t, fmt.Sprintf("case %d %%+v error", i), fmt.Sprintf("%+v", err))
	}

	keyAcct, err := ParseConnectionString("AccountName=myacct;AccountKey=" + canaryKey)
	if err != nil {
		t.Fatal(err)
	}
	sasAcct, err := ParseConnectionString("SharedAccessSignature=" + canarySAS + ";BlobEndpoint=https://x.blob.core.windows.net;QueueEndpoint=https://x.queue.core.windows.net;TableEndpoint=https://x.table.core.windows.net")
	if err != nil {
		t.Fatal(err)
	}
	type wrapper struct {
		Exported   *Account
		unexported *Account
		value      Account
	}
	// A token credential can hold secrets of its own (a client secret, a
	// cached token); it must be as unreachable as a key.
	tokenAcct, err := FromAccountName("myacct", staticToken{secret: canaryKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*Account{keyAcct, sasAcct, tokenAcct} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %p"} {
			assertNoCanary(t, verb+" of *Account", fmt.Sprintf(verb, a))
			assertNoCanary(t, verb+" of Account", fmt.Sprintf(verb, *a))
			assertNoCanary(t, verb+" of wrapper", fmt.Sprintf(verb, wrapper{a, a, *a}))
			assertNoCanary(t, verb+" of slice", fmt.Sprintf(verb, []any{a, *a}))
		}
		assertNoCanary(t, "Sprint", fmt.Sprint(a, *a))
		assertNoCanary(t, "String", a.String())
		assertNoCanary(t, "GoString", a.GoString())

		var buf bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
			l := slog.New(h)
			l.Info("account", "account", a, "value", *a, "any", any(a))
			l.Info("grouped", slog.Any("account", a), slog.Group("g", "a", a))
		}
		assertNoCanary(t, "slog output", buf.String())
		if !strings.Contains(buf.String(), "x.blob.core.windows.net") && !strings.Contains(buf.String(), "myacct") {
			t.Errorf("slog output lacks the account description: %s", buf.String())
		}

		// Errors the clients produce about the account itself.
		var empty Account = *a
		empty.endpoints = Endpoints{}
		_, err := empty.QueueService(nil)
		assertNoCanary(t, "missing endpoint error", fmt.Sprint(err))
	}
}

func TestScrubRemovesSecrets(t *testing.T) {
	a, err := ParseConnectionString("SharedAccessSignature=" + canarySAS + ";BlobEndpoint=https://x.blob.core.windows.net")
	if err != nil {
		t.Fatal(err)
	}
	sec := a.cred.secret()
	sec.key = canaryKey // scrub must handle both kinds of secret
	a.cred = newCredential(credSAS, sec)
	inner := fmt.Errorf("sdk said: url https://x/?%s key=%s escaped=%s sig=%s", canarySAS, canaryKey, url.QueryEscape(canaryKey), canarySig)
	err = a.scrub("blob", inner)
	assertNoCanary(t, "scrubbed error", err.Error())
	if errors.Is(err, inner) {
		t.Error("scrubbed error still wraps the original")
	}
	if !strings.Contains(err.Error(), redacted) {
		t.Errorf("scrubbed error %q does not show where the secret was", err)
	}
}

func TestStringDescribesAccount(t *testing.T) {
	a, err := ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		t.Fatal(err)
	}
	want := "storage account devstoreaccount1 (shared key; blob http://127.0.0.1:10000/devstoreaccount1, queue http://127.0.0.1:10001/devstoreaccount1, table http://127.0.0.1:10002/devstoreaccount1)"
	if got := a.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := fmt.Sprintf("%v", a); got != want {
		t.Errorf("%%v = %q, want %q", got, want)
	}
	if got := fmt.Sprintf("%#v", a); !strings.HasPrefix(got, `storage.Account{Name: "devstoreaccount1"`) {
		t.Errorf("%%#v = %q", got)
	}
	// The development key is public, but printing it would teach readers that
	// keys get printed.
	if strings.Contains(fmt.Sprintf("%v %#v %+v %d", a, a, *a, *a), DevelopmentAccountKey) {
		t.Error("development key printed")
	}
}
