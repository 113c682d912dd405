// Runs one of our built programs (build/bin/NAME, beside build/tests/) with arguments, waits,
// and returns its exit status and output. For the tests that check programs as a user runs them,
// and (spawn_program + wait_status) for those that signal a program while it runs.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/text_file.hpp"

extern char** environ;

namespace dmarc::test {

inline std::string program_path(const std::string& name) {
    return (std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "bin" /
            name)
        .string();
}

struct ProgramResult {
    int status = -1;  // exit status, or 128 + signal
    std::string out, err;
};

// Starts `program` (a path, or the name of one of ours in build/bin) with standard input from
// `in` and standard output and error written to the files `out` and `err`. The pid, or -1.
inline pid_t spawn_program(const std::string& program, const std::vector<std::string>& args,
                           const std::string& out, const std::string& err,
                           const std::string& in = "/dev/null") {
    std::string path = program.find('/') == std::string::npos ? program_path(program) : program;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> all{path};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

// The exit status of `pid` once it has ended, 128 + the signal that ended it, or -1.
inline int wait_status(pid_t pid) {
    int status = 0;
    if (pid <= 0 || ::waitpid(pid, &status, 0) != pid) return -1;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

// Runs `program` to its end with standard output and error in the files `out` and `err`.
inline ProgramResult run_program_to(const std::string& program,
                                    const std::vector<std::string>& args, const std::string& out,
                                    const std::string& err, const std::string& in = "/dev/null") {
    ProgramResult r;
    const pid_t pid = spawn_program(program, args, out, err, in);
    if (pid <= 0) {
        r.err = "cannot start " + program;
        return r;
    }
    r.status = wait_status(pid);
    r.out = read_text(out);
    r.err = read_text(err);
    return r;
}

// stdout and stderr go to files in `scratch` (a directory the caller owns).
inline ProgramResult run_program(const std::string& name, const std::vector<std::string>& args,
                                 const std::filesystem::path& scratch,
                                 const std::string& in = "/dev/null") {
    return run_program_to(name, args, (scratch / "program.out").string(),
                          (scratch / "program.err").string(), in);
}

}  // namespace dmarc::test
