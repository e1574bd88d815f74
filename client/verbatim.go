package client

// Verbatim is a payload given as the exact text to store: ScheduleNew (as
// the input) and RaiseEvent (as the payload) store Text as it is, without
// encoding or checking it, and a nil Text stores no payload at all (null,
// as C# stores a missing input). It is for text that another serializer
// wrote, such as a Durable Task SDK's, which must read it back unchanged;
// use RawJSON when the text must be JSON.
type Verbatim struct {
	Text *string
}
