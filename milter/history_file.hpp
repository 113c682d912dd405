// OpenDMARC's HistoryFile (opendmarc.md §3) written by dmarc-milter: each record appended in one
// write(2) under flock(LOCK_EX), as OpenDMARC does, so opendmarc-import and dmarc-collector can
// read a file other writers share. The descriptor stays open; when the path names a different
// file (log rotation moved it away) the file is reopened. A failure is returned, never thrown:
// the caller logs and counts it, and mail goes on (OpenDMARC §8.2 #23 tempfailed every message).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace dmarc::milter {

class HistoryFile {
  public:
    static Result<std::unique_ptr<HistoryFile>> open(const std::string& path);
    ~HistoryFile();
    HistoryFile(const HistoryFile&) = delete;
    HistoryFile& operator=(const HistoryFile&) = delete;

    // Appends text (whole records). On a reopen failure the record still goes to the old file
    // and the problem is kept for take_warning(). While another process holds the file's lock
    // the call waits, asking keep_waiting every 10 ms; when that says no, the text is not
    // written and the error says the file was locked. Without keep_waiting it waits as long
    // as the lock is held.
    Result<void> append(std::string_view text, const std::function<bool()>& keep_waiting = {});
    std::string take_warning();
    const std::string& path() const { return path_; }

  private:
    HistoryFile(std::string path, int fd, dev_t dev, ino_t ino)
        : path_(std::move(path)), fd_(fd), dev_(dev), ino_(ino) {}
    void reopen_if_rotated();

    std::mutex mutex_;
    std::string path_;
    int fd_ = -1;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::string warning_;
    std::string last_warning_;
};

}  // namespace dmarc::milter
