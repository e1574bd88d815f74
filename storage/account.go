package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// ErrInvalidConnectionString is wrapped by every error [ParseConnectionString]
// returns, so callers can tell a bad setting from other failures with
// errors.Is. The wrapping message names the offending setting, never a value.
var ErrInvalidConnectionString = errors.New("storage: invalid connection string")

// Endpoints are the service URLs of one storage account, for example
// "https://myaccount.queue.core.windows.net" or, for Azurite,
// "http://127.0.0.1:10001/devstoreaccount1". An empty field means the account
// has no endpoint for that service; asking for its client fails.
type Endpoints struct {
	Blob  string
	Queue string
	Table string
}

// Account is a storage account azdurable can talk to: its name, its service
// endpoints and how requests are authorized (shared key, SAS or an
// azcore.TokenCredential). Create one with [ParseConnectionString],
// [FromAccountName] or [FromEndpoints]. An Account is immutable and safe for
// concurrent use; printing or logging it never reveals the key or SAS.
type Account struct {
	name      string
	endpoints Endpoints
	cred      *credential // nil only in a zero Account
}

type credentialKind int

const (
	credSharedKey credentialKind = iota + 1
	credSAS
	credToken
)

func (k credentialKind) String() string {
	switch k {
	case credSharedKey:
		return "shared key"
	case credSAS:
		return "shared access signature"
	case credToken:
		return "token credential"
	}
	return "none"
}

type credential struct {
	kind credentialKind
	// secret is a closure because reflection cannot look inside one: fmt
	// prints a func as an address whatever the verb or nesting, so even a
	// struct that embeds a copied Account in an unexported field (where
	// String and Format are not consulted) cannot print the key.
	secret func() secretValue
}

type secretValue struct {
	key   string // base64 account key, credSharedKey only
	sas   string // SAS query without '?', credSAS only
	token azcore.TokenCredential
}

func newCredential(kind credentialKind, v secretValue) *credential {
	return &credential{kind: kind, secret: func() secretValue { return v }}
}

// FromAccountName returns the account NAME in the Azure public cloud
// (https://NAME.{blob,queue,table}.core.windows.net), authorized with cred,
// typically from azidentity (azidentity.NewDefaultAzureCredential). The
// identity needs the Storage Queue, Table and Blob Data Contributor roles.
func FromAccountName(name string, cred azcore.TokenCredential) (*Account, error) {
	if err := validateAccountName(name); err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, errors.New("storage: FromAccountName: credential is nil")
	}
	return &Account{
		name: name,
		endpoints: Endpoints{
			Blob:  "https://" + name + ".blob.core.windows.net",
			Queue: "https://" + name + ".queue.core.windows.net",
			Table: "https://" + name + ".table.core.windows.net",
		},
		cred: newCredential(credToken, secretValue{token: cred}),
	}, nil
}

// FromEndpoints returns an account with explicit endpoints (sovereign clouds,
// private endpoints, custom domains), authorized with cred. Empty endpoints
// are allowed, but at least one must be set; each set endpoint must be an
// absolute http or https URL without a query. The account name is taken from
// the first set endpoint (host label, or first path segment for path-style
// URLs such as Azurite's).
func FromEndpoints(e Endpoints, cred azcore.TokenCredential) (*Account, error) {
	if cred == nil {
		return nil, errors.New("storage: FromEndpoints: credential is nil")
	}
	norm, err := normalizeEndpoints(e)
	if err != nil {
		return nil, fmt.Errorf("storage: FromEndpoints: %w", err)
	}
	return &Account{
		name:      nameFromEndpoints(norm),
		endpoints: norm,
		cred:      newCredential(credToken, secretValue{token: cred}),
	}, nil
}

// Name returns the account name, for example "devstoreaccount1".
func (a *Account) Name() string { return a.name }

// Endpoints returns the account's service URLs. They never contain a SAS.
func (a *Account) Endpoints() Endpoints { return a.endpoints }

// ClientOptions adjust the pipelines of the clients an [Account] creates. A
// nil *ClientOptions, and every zero field, means the SDK default. Policies
// are how callers count storage calls or inject faults without touching the
// code that makes the calls.
type ClientOptions struct {
	// PerCallPolicies run once per operation, before retries.
	PerCallPolicies []policy.Policy
	// PerRetryPolicies run on every attempt, after the retry policy.
	PerRetryPolicies []policy.Policy
	// Retry replaces the SDK's retry options when non-nil.
	Retry *policy.RetryOptions
	// Transport replaces the HTTP transport when non-nil.
	Transport policy.Transporter
}

// applicationID is sent in the User-Agent so storage logs show azdurable.
const applicationID = "azdurable"

func (o *ClientOptions) core() azcore.ClientOptions {
	var c azcore.ClientOptions
	c.Telemetry.ApplicationID = applicationID
	if o == nil {
		return c
	}
	c.PerCallPolicies = o.PerCallPolicies
	c.PerRetryPolicies = o.PerRetryPolicies
	if o.Retry != nil {
		c.Retry = *o.Retry
	}
	c.Transport = o.Transport
	return c
}

// QueueService returns a queue service client for the account.
func (a *Account) QueueService(o *ClientOptions) (*azqueue.ServiceClient, error) {
	endpoint, err := a.endpoint("queue")
	if err != nil {
		return nil, err
	}
	opts := &azqueue.ClientOptions{ClientOptions: o.core()}
	var c *azqueue.ServiceClient
	sec := a.cred.secret()
	switch a.cred.kind {
	case credSharedKey:
		var sk *azqueue.SharedKeyCredential
		if sk, err = azqueue.NewSharedKeyCredential(a.name, sec.key); err == nil {
			c, err = azqueue.NewServiceClientWithSharedKeyCredential(endpoint, sk, opts)
		}
	case credSAS:
		c, err = azqueue.NewServiceClientWithNoCredential(endpoint+"?"+sec.sas, opts)
	case credToken:
		c, err = azqueue.NewServiceClient(endpoint, sec.token, opts)
	}
	if err != nil {
		return nil, a.scrub("queue", err)
	}
	return c, nil
}

// TableService returns a table service client for the account.
func (a *Account) TableService(o *ClientOptions) (*aztables.ServiceClient, error) {
	endpoint, err := a.endpoint("table")
	if err != nil {
		return nil, err
	}
	opts := &aztables.ClientOptions{ClientOptions: o.core()}
	var c *aztables.ServiceClient
	sec := a.cred.secret()
	switch a.cred.kind {
	case credSharedKey:
		var sk *aztables.SharedKeyCredential
		if sk, err = aztables.NewSharedKeyCredential(a.name, sec.key); err == nil {
			c, err = aztables.NewServiceClientWithSharedKey(endpoint, sk, opts)
		}
	case credSAS:
		c, err = aztables.NewServiceClientWithNoCredential(endpoint+"?"+sec.sas, opts)
	case credToken:
		c, err = aztables.NewServiceClient(endpoint, sec.token, opts)
	}
	if err != nil {
		return nil, a.scrub("table", err)
	}
	return c, nil
}

// BlobService returns the top-level azblob client for the account. It is the
// *azblob.Client rather than the *service.Client because it adds the
// convenient upload/download calls by container and blob name; the service
// client, and through it container and blob clients, is c.ServiceClient().
func (a *Account) BlobService(o *ClientOptions) (*azblob.Client, error) {
	endpoint, err := a.endpoint("blob")
	if err != nil {
		return nil, err
	}
	opts := &azblob.ClientOptions{ClientOptions: o.core()}
	var c *azblob.Client
	sec := a.cred.secret()
	switch a.cred.kind {
	case credSharedKey:
		var sk *azblob.SharedKeyCredential
		if sk, err = azblob.NewSharedKeyCredential(a.name, sec.key); err == nil {
			c, err = azblob.NewClientWithSharedKeyCredential(endpoint, sk, opts)
		}
	case credSAS:
		c, err = azblob.NewClientWithNoCredential(endpoint+"?"+sec.sas, opts)
	case credToken:
		c, err = azblob.NewClient(endpoint, sec.token, opts)
	}
	if err != nil {
		return nil, a.scrub("blob", err)
	}
	return c, nil
}

// endpoint returns the URL of service, or why a client cannot be made.
func (a *Account) endpoint(service string) (string, error) {
	if a == nil || a.cred == nil {
		return "", errors.New("storage: account is not initialized; use ParseConnectionString, FromAccountName or FromEndpoints")
	}
	var e string
	switch service {
	case "queue":
		e = a.endpoints.Queue
	case "table":
		e = a.endpoints.Table
	case "blob":
		e = a.endpoints.Blob
	}
	if e == "" {
		return "", fmt.Errorf("storage: account %q has no %s endpoint", a.name, service)
	}
	return e, nil
}

// scrub turns an SDK constructor error into one that cannot carry the key or
// SAS. It deliberately does not wrap err: an unwrapped original could still
// be printed by a caller.
func (a *Account) scrub(service string, err error) error {
	return fmt.Errorf("storage: create %s client for account %q: %s", service, a.name, redact(err.Error(), a.cred.secrets()))
}

// secrets lists every spelling of the credential that could end up in text.
func (c *credential) secrets() []string {
	sec := c.secret()
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	add(sec.key)
	add(sec.sas)
	if q, err := url.ParseQuery(sec.sas); err == nil {
		for _, v := range q["sig"] {
			add(v)
		}
	}
	return out
}

const redacted = "[REDACTED]"

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

func (a Account) auth() string {
	if a.cred == nil {
		return "none"
	}
	return a.cred.kind.String()
}

// String describes the account without secrets: name, authorization kind
// and endpoints. String, GoString, Format and LogValue have value receivers
// so that a dereferenced copy of an Account is redacted as well.
func (a Account) String() string {
	return fmt.Sprintf("storage account %s (%s; blob %s, queue %s, table %s)",
		orNone(a.name), a.auth(), orNone(a.endpoints.Blob), orNone(a.endpoints.Queue), orNone(a.endpoints.Table))
}

// GoString is like String, for %#v; it never shows the credential.
func (a Account) GoString() string {
	return fmt.Sprintf("storage.Account{Name: %q, Auth: %q, Blob: %q, Queue: %q, Table: %q}",
		a.name, a.auth(), a.endpoints.Blob, a.endpoints.Queue, a.endpoints.Table)
}

// Format routes every fmt verb through String or GoString, so no verb can
// reach the credential by reflection.
func (a Account) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, a.GoString())
		return
	}
	_, _ = fmt.Fprint(f, a.String())
}

// LogValue implements slog.LogValuer: a group with the account name,
// authorization kind and endpoints.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", a.name),
		slog.String("auth", a.auth()),
		slog.String("blob", a.endpoints.Blob),
		slog.String("queue", a.endpoints.Queue),
		slog.String("table", a.endpoints.Table),
	)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// validateAccountName applies Azure's rule: 3 to 24 lowercase letters and
// digits. The development account satisfies it.
func validateAccountName(name string) error {
	if len(name) < 3 || len(name) > 24 {
		return fmt.Errorf("storage: account name %q must be 3 to 24 characters", name)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Errorf("storage: account name %q may contain only lowercase letters and digits", name)
		}
	}
	return nil
}

func normalizeEndpoints(e Endpoints) (Endpoints, error) {
	var err error
	if e.Blob, err = normalizeEndpoint("blob", e.Blob); err != nil {
		return Endpoints{}, err
	}
	if e.Queue, err = normalizeEndpoint("queue", e.Queue); err != nil {
		return Endpoints{}, err
	}
	if e.Table, err = normalizeEndpoint("table", e.Table); err != nil {
		return Endpoints{}, err
	}
	if e.Blob == "" && e.Queue == "" && e.Table == "" {
		return Endpoints{}, errors.New("no endpoint is set")
	}
	return e, nil
}

// normalizeEndpoint checks that raw is an absolute http(s) URL without query,
// fragment or user info, and drops a trailing slash. Errors name the service
// only: the value may have been pasted from somewhere with a secret in it.
func normalizeEndpoint(service, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return "", fmt.Errorf("%s endpoint is not an absolute http or https URL", service)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%s endpoint must not contain a query, fragment or user info (pass a SAS as SharedAccessSignature)", service)
	}
	return strings.TrimRight(raw, "/"), nil
}

// nameFromEndpoints guesses the account name from the first endpoint that is
// set: the first path segment of a path-style URL (emulators, IP addresses),
// else the first label of the host.
func nameFromEndpoints(e Endpoints) string {
	for _, raw := range []string{e.Queue, e.Table, e.Blob} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); seg != "" {
			return seg
		}
		host := u.Hostname()
		if net.ParseIP(host) != nil {
			return host
		}
		label, _, _ := strings.Cut(host, ".")
		return label
	}
	return ""
}
