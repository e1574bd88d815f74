package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// Errors a person can read. Every command's error is printed by Run as one
// line, "azdurable: <errorLine>". A failed storage call is never shown as
// the SDK's multi-line dump (request URL, response headers, XML body): it
// becomes "<status> <code>: <what it means>; <what to do> (<context>)",
// where the context is what the command was doing when it failed, and a
// failure without an answer (a refused connection, a name that does not
// resolve, a timeout, an untrusted certificate, an Azure sign-in that
// failed) becomes a sentence that says the same. URL queries, which may
// hold a SAS, are never printed. Other errors are printed as they are, on
// one line.

// printError writes err as the one line a command prints on failure. The
// worker command uses it for its own exits.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "azdurable: %s\n", errorLine(err))
}

// errorLine returns the line printed for err, without the "azdurable: "
// prefix and without a newline.
func errorLine(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	if u, ok := findUnit(err); ok {
		inner := u.err.Error()
		context := ""
		if i := strings.Index(text, inner); i >= 0 {
			context = strings.TrimRight(strings.TrimSpace(text[:i]), ":")
		}
		text = u.describe()
		if u.context != "" {
			context = joinContext(context, u.context)
		}
		if context != "" {
			text += " (" + context + ")"
		}
	}
	return redactQueries(oneLine(text))
}

func joinContext(outer, inner string) string {
	switch {
	case outer == "":
		return inner
	case inner == "":
		return outer
	}
	return outer + ": " + inner
}

// credentialsRefused reports whether err is storage refusing the
// credentials or their rights (HTTP 403), for commands that should stop at
// once rather than retry.
func credentialsRefused(err error) bool {
	u, ok := findUnit(err)
	return ok && u.status == http.StatusForbidden
}

// unit is the storage failure found in an error chain: an answer from the
// service (status and code) or a failure to get one.
type unit struct {
	err     error // the error whose text is replaced
	status  int   // 0 without an answer
	code    string
	message string // the service's message, first line
	context string // the request, e.g. "GET /devstoreaccount1/Hub()"
	noReply string // what went wrong without an answer
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// queryInURL matches the query of an http(s) URL in an error text.
var queryInURL = regexp.MustCompile(`(https?://[^\s"'?]*)\?[^\s"']*`)

func redactQueries(s string) string { return queryInURL.ReplaceAllString(s, "$1?[query removed]") }

// findUnit walks err's tree (Unwrap() error and Unwrap() []error, depth
// first, in order) and returns the first storage failure.
func findUnit(err error) (unit, bool) {
	var found unit
	ok := false
	var walk func(error, int)
	walk = func(e error, depth int) {
		if ok || e == nil || depth > 64 {
			return
		}
		if u, is := asUnit(e); is {
			found, ok = u, true
			return
		}
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				walk(inner, depth+1)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap(), depth+1)
		}
	}
	walk(err, 0)
	return found, ok
}

// asUnit recognises one error (not its chain) as a storage failure.
func asUnit(e error) (unit, bool) {
	switch x := e.(type) {
	case *azurestorage.TableError:
		if x.StatusCode == 0 {
			// No answer: the cause says why (it is walked next).
			if u, ok := findUnit(x.Err); ok {
				u.err = x
				u.context = joinContext(tableContext(x), u.context)
				return u, true
			}
			return unit{}, false
		}
		return unit{err: x, status: x.StatusCode, code: x.Code, message: x.Message, context: tableContext(x)}, true
	case *azcore.ResponseError:
		u := unit{err: x, status: x.StatusCode, code: x.ErrorCode}
		if r := x.RawResponse; r != nil {
			u.message = serviceMessage(r)
			if u.code == "" {
				u.code = r.Header.Get("x-ms-error-code")
			}
			if r.Request != nil && r.Request.URL != nil {
				u.context = r.Request.Method + " " + r.Request.URL.EscapedPath()
			}
		}
		return u, true
	case *url.Error:
		host := x.URL
		if p, err := url.Parse(x.URL); err == nil {
			host = p.Host
		}
		return unit{err: x, noReply: transportProblem(x.Err, host)}, true
	case *azidentity.AuthenticationFailedError:
		what := firstLine(x.Error())
		if r := x.RawResponse; r != nil && r.Request != nil && r.Request.URL != nil {
			what = fmt.Sprintf("HTTP %d from %s", r.StatusCode, r.Request.URL.Host)
		}
		return unit{err: x, noReply: "Azure sign-in failed (" + what +
			"); check the identity and its access, or sign in again with az login"}, true
	case *net.OpError, *net.DNSError, *tls.CertificateVerificationError:
		return unit{err: x, noReply: transportProblem(x, "")}, true
	}
	// DefaultAzureCredential's "no credential worked" error has no
	// exported type; its text starts with the credential's name.
	if strings.HasPrefix(e.Error(), "DefaultAzureCredential: failed to acquire a token") {
		return unit{err: e, noReply: "no Azure credential is available for --account; sign in with az login, " +
			"or run where a managed or workload identity is set up, or use --connection-string"}, true
	}
	return unit{}, false
}

func tableContext(e *azurestorage.TableError) string {
	s := e.Op + " on table " + e.Table
	if e.PartitionKey != "" {
		s += fmt.Sprintf(", partition %q", e.PartitionKey)
	}
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// serviceMessage reads the first line of the service's message from an
// error answer: XML (<Error><Message>, blobs and queues) or JSON (tables).
func serviceMessage(r *http.Response) string {
	body, err := runtime.Payload(r)
	if err != nil || len(body) == 0 {
		return ""
	}
	var x struct {
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &x) == nil && x.Message != "" {
		return firstLine(x.Message)
	}
	var j struct {
		ODataError struct {
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
	}
	if json.Unmarshal(body, &j) == nil && j.ODataError.Message.Value != "" {
		return firstLine(j.ODataError.Message.Value)
	}
	return ""
}

// transportProblem says in words why a request got no answer.
func transportProblem(err error, host string) string {
	where := ""
	if host != "" {
		where = " " + host
	}
	var dns *net.DNSError
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted while talking to storage" + where
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out talking to storage" + where + "; check the network and the endpoints, and try again"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve the storage host %s; check the account name and the endpoints of the connection string", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		if errors.As(err, &op) && op.Addr != nil {
			where = " " + op.Addr.String()
		}
		return "cannot connect to storage" + where + " (connection refused); check the endpoints, or start Azurite (make azurite, or --local)"
	case errors.As(err, &cert), errors.As(err, &unknownCA), errors.As(err, &hostname):
		return "the TLS certificate of storage" + where + " is not trusted (" + firstLine(err.Error()) + ")"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out talking to storage" + where + "; check the network and the endpoints, and try again"
	case errors.As(err, &op):
		return fmt.Sprintf("cannot reach storage%s (%s); check the network and the endpoints", where, redactQueries(firstLine(op.Error())))
	}
	return "cannot reach storage" + where + " (" + redactQueries(firstLine(err.Error())) + ")"
}

// describe renders the failure: "<status> <code>: <meaning>; <advice>" for
// an answer, the sentence for a failure without one.
func (u unit) describe() string {
	if u.status == 0 {
		return u.noReply
	}
	head := fmt.Sprint(u.status)
	if u.code != "" {
		head += " " + u.code
	} else if t := http.StatusText(u.status); t != "" {
		head += " " + t
	}
	if advice := adviceFor(u.status, u.code); advice != "" {
		return head + ": " + advice
	}
	if u.message != "" {
		return head + ": " + u.message
	}
	return head
}

// adviceFor says what an answer means and what to do about it, for the
// answers a person can act on.
func adviceFor(status int, code string) string {
	switch code {
	case "AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation":
		return "the storage account refused the credentials; check the account key or SAS, and that the SAS has not expired"
	case "AuthorizationFailure":
		return "the storage account refused the credentials; check the account key or SAS, and the account's network rules"
	case "AuthorizationPermissionMismatch", "InsufficientAccountPermissions":
		return "the credentials lack a permission this command needs; with --account, assign the Storage Blob, Queue and Table Data Contributor roles; with a SAS, allow read, add, create, write, update, delete, list and process"
	case "AuthorizationResourceTypeMismatch":
		return "the SAS does not allow this kind of resource; use an account SAS for service, container and object (srt=sco)"
	case "AuthorizationServiceMismatch":
		return "the SAS does not cover this service; use an account SAS for blobs, queues and tables (ss=bqt)"
	case "AuthorizationSourceIPMismatch":
		return "the SAS does not allow requests from this address"
	case "AuthorizationProtocolMismatch":
		return "the SAS does not allow this protocol (http or https)"
	case "KeyBasedAuthenticationNotPermitted":
		return "the storage account does not allow access with keys or SAS; use --account with an Azure sign-in"
	case "AccountIsDisabled":
		return "the storage account is disabled"
	case "TableNotFound", "QueueNotFound", "ContainerNotFound":
		return "the task hub does not have it; check --task-hub and the account (azdurable hub info), or create the hub (azdurable hub create)"
	case "TableBeingDeleted", "QueueBeingDeleted", "ContainerBeingDeleted":
		return "it is being deleted; try again in a minute"
	case "ServerBusy":
		return "the storage account is throttling requests; try again later"
	case "OperationTimedOut", "InternalError":
		return "the storage service failed; try again"
	case "PropertyValueTooLarge", "EntityTooLarge", "RequestBodyTooLarge", "MessageTooLarge":
		return "the value is too large for storage"
	case "OutOfRangeInput", "InvalidInput", "InvalidResourceName", "InvalidUri", "InvalidQueryParameterValue":
		return "storage refused the request as invalid (a name or id it cannot store?)"
	}
	switch {
	case status == http.StatusForbidden:
		return "the storage account refused the request; check the account key or SAS and its permissions"
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return "the storage account is busy; try again later"
	case status >= 500:
		return "the storage service failed; try again"
	}
	return ""
}
