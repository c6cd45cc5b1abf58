// See durable_file.h.
#include "libs/common/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace paxoskv {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path);
  if (::fsync(fd) != 0) {
    absl::Status status = ErrnoError("fsync", path);
    ::close(fd);
    return status;
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& directory, const std::string& name,
                              absl::string_view data) {
  const std::string path = directory + "/" + name;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("open", tmp);
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoError("write", tmp);
      ::close(fd);
      return status;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status status = ErrnoError("fsync", tmp);
    ::close(fd);
    return status;
  }
  if (::close(fd) != 0) return ErrnoError("close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename", tmp);
  return FsyncPath(directory, O_RDONLY | O_DIRECTORY);
}

}  // namespace paxoskv
