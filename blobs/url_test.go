package blobs

import (
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// offlineStore builds a Store on a client that is never used for requests.
func offlineStore(t *testing.T, serviceURL, containerName string) *Store {
	t.Helper()
	svc, err := azblob.NewClientWithNoCredential(serviceURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(svc, containerName, nil)
}

// TestURLEscaping pins the URL format C# stores in the Instances table:
// each segment escaped with RFC 3986 data escaping, "/" kept, upper-case
// hex, and NameFromURL inverts it.
func TestURLEscaping(t *testing.T) {
	s := offlineStore(t, "https://acct.blob.core.windows.net/", "myhub-largemessages")
	const base = "https://acct.blob.core.windows.net/myhub-largemessages/"
	cases := []struct{ name, want string }{
		{"order-12345/message-0f8fad5bd9cb469fa16570867728950e-ExecutionStarted.json.gz",
			"order-12345/message-0f8fad5bd9cb469fa16570867728950e-ExecutionStarted.json.gz"},
		{"my order/history--Input-0C4F2A9B-Input.json.gz", "my%20order/history--Input-0C4F2A9B-Input.json.gz"},
		{"a#b?c%d/x", "a%23b%3Fc%25d/x"},
		{"Ünï-实例-🚀/m.json.gz", "%C3%9Cn%C3%AF-%E5%AE%9E%E4%BE%8B-%F0%9F%9A%80/m.json.gz"},
		{"@counter@key/m", "%40counter%40key/m"},
		{"a/b/c", "a/b/c"},
		{"sub!$&'()*+,;=:~._-", "sub%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A~._-"},
		{"a//b", "a//b"},
	}
	for _, c := range cases {
		got := s.URL(c.name)
		if got != base+c.want {
			t.Errorf("URL(%q)\n got %s\nwant %s", c.name, got, base+c.want)
		}
		back, err := s.NameFromURL(got)
		if err != nil || back != c.name {
			t.Errorf("NameFromURL(%s) = %q, %v; want %q", got, back, err, c.name)
		}
	}
}

// TestURLNeverCarriesSAS: a Store built from a SAS URL must not leak the
// signature into URLs that end up in a table.
func TestURLNeverCarriesSAS(t *testing.T) {
	s := offlineStore(t, "https://acct.blob.core.windows.net/?sv=2022-11-02&sig=SECRET", "myhub-largemessages")
	got := s.URL("id/blob")
	if got != "https://acct.blob.core.windows.net/myhub-largemessages/id/blob" {
		t.Fatalf("URL = %s", got)
	}
	if name, err := s.NameFromURL(got + "?sig=other"); err != nil || name != "id/blob" {
		t.Fatalf("NameFromURL with query = %q, %v", name, err)
	}
}

// TestNameFromURLForeign refuses URLs of other accounts, containers, schemes
// and non-URLs, with ErrNotInContainer.
func TestNameFromURLForeign(t *testing.T) {
	s := offlineStore(t, "http://127.0.0.1:10000/devstoreaccount1", "myhub-largemessages")
	ok := "http://127.0.0.1:10000/devstoreaccount1/myhub-largemessages/id/m.json.gz"
	if name, err := s.NameFromURL(ok); err != nil || name != "id/m.json.gz" {
		t.Fatalf("NameFromURL(%s) = %q, %v", ok, name, err)
	}
	for _, u := range []string{
		"http://127.0.0.1:10001/devstoreaccount1/myhub-largemessages/id/m",    // other port
		"https://127.0.0.1:10000/devstoreaccount1/myhub-largemessages/id/m",   // other scheme
		"http://127.0.0.1:10000/otheraccount/myhub-largemessages/id/m",        // other account
		"http://127.0.0.1:10000/devstoreaccount1/myhub-largemessagesX/id/m",   // other container
		"http://127.0.0.1:10000/devstoreaccount1/otherhub-largemessages/id/m", // other hub
		"http://127.0.0.1:10000/devstoreaccount1/myhub-largemessages/",        // no blob
		"/devstoreaccount1/myhub-largemessages/id/m",                          // relative
		"\"some input\"",
		"",
	} {
		if name, err := s.NameFromURL(u); !errors.Is(err, ErrNotInContainer) {
			t.Errorf("NameFromURL(%q) = %q, %v; want ErrNotInContainer", u, name, err)
		}
	}
}
