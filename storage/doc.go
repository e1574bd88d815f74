// Package storage turns what a user has — a connection string, an account
// name plus an Azure AD credential, or explicit endpoints — into the three
// Azure SDK service clients azdurable needs: queues, tables and blobs.
//
// Design note. Every other package receives an [*Account] and asks it for
// clients, so authentication, endpoint rules and client options are decided
// here once. The SDK clients are used as they are; this package only chooses
// the right constructor and fills in [ClientOptions]. Two things the SDK does
// not do are handled here:
//
//   - UseDevelopmentStorage=true (what every Durable Functions project has in
//     local.settings.json) is rejected by all three Go SDK clients, so
//     [ParseConnectionString] expands it to the Azurite endpoints and the
//     well-known development account.
//   - Secrets never leave an Account in text form. Parse errors name the
//     setting that is wrong but never echo the input or a value; errors from
//     SDK constructors are scrubbed of the key and SAS; String, GoString,
//     Format and LogValue print the account name and endpoints only. The
//     credential is held behind an unexported pointer so that even reflective
//     printing of a copied Account shows an address, not a key.
package storage
