// The TLS flags every paxoskv binary takes (tls.h): linked into the binaries, never into
// libraries, so a library's user defines its own flags.
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "libs/common/tls.h"

ABSL_FLAG(std::string, cacert, "", "PEM bundle of the CAs whose certificates are trusted");
ABSL_FLAG(std::string, cert, "", "this process's certificate (PEM); its common name is its role");
ABSL_FLAG(std::string, key, "", "the certificate's private key (PEM)");
ABSL_FLAG(std::string, cert_dir, "",
          "folder with ca.crt, tls.crt and tls.key (deploy/certs/NAME); --cacert, --cert and "
          "--key override one file each. Without any TLS flag, $PAXOSKV_CERT_DIR is the folder");
ABSL_FLAG(bool, insecure, false,
          "plaintext: no TLS, and every caller may call every method (tests, a trusted host)");

namespace paxoskv {

TlsFiles TlsFilesFromFlags() {
  return ResolveTlsFiles(TlsFiles{.ca_file = absl::GetFlag(FLAGS_cacert),
                                  .cert_file = absl::GetFlag(FLAGS_cert),
                                  .key_file = absl::GetFlag(FLAGS_key),
                                  .insecure = absl::GetFlag(FLAGS_insecure)},
                         absl::GetFlag(FLAGS_cert_dir), std::getenv("PAXOSKV_CERT_DIR"));
}

}  // namespace paxoskv
