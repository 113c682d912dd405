// A private PostgreSQL server for the store tests (issue 5: "the tests start a real PostgreSQL
// server on loopback in a private data directory and stop it afterwards"): initdb into a temporary
// directory, listen on 127.0.0.1 at a free port, one fresh database per test. Runs the server as
// the `postgres` user when the tests run as root (PostgreSQL refuses root).
#pragma once

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <libpq-fe.h>

namespace dmarc::test {

class PgServer {
  public:
    // The shared server, started on first use; nullptr (with why()) when PostgreSQL is missing.
    static PgServer* instance() {
        static std::unique_ptr<PgServer> server = start();
        return server.get();
    }
    static std::string& why() {
        static std::string reason;
        return reason;
    }

    ~PgServer() {
        run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop >/dev/null 2>&1");
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    // A new empty database; returns its libpq URI.
    std::string create_database() {
        std::string name = "t" + std::to_string(++databases_);
        PGconn* conn = PQconnectdb(uri("postgres").c_str());
        PGresult* r = PQexec(conn, ("CREATE DATABASE " + name).c_str());
        PQclear(r);
        PQfinish(conn);
        return uri(name);
    }

    // pg_ctl restart -m fast: every client connection is terminated (the fault tests).
    bool restart() {
        return run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w restart -l " + dir_ +
                            "/server.log >/dev/null 2>&1") == 0;
    }

    std::string uri(const std::string& database) const {
        return "postgresql://dmarc@127.0.0.1:" + std::to_string(port_) + "/" + database;
    }

  private:
    static std::optional<std::string> find_bin() {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
            auto bin = entry.path() / "bin";
            if (std::filesystem::exists(bin / "initdb")) return bin.string();
        }
        return std::nullopt;
    }

    int run_as_owner(const std::string& command) const {
        if (::geteuid() == 0) {
            return std::system(("su postgres -s /bin/sh -c '" + command + "'").c_str());
        }
        return std::system(command.c_str());
    }

    static std::unique_ptr<PgServer> start() {
        auto bin = find_bin();
        if (!bin) {
            why() = "PostgreSQL server binaries not found under /usr/lib/postgresql";
            return nullptr;
        }
        std::unique_ptr<PgServer> server(new PgServer);
        server->bin_ = *bin;
        std::string pattern = (std::filesystem::temp_directory_path() / "dmarc-pg-XXXXXX").string();
        if (!::mkdtemp(pattern.data())) {
            why() = "mkdtemp failed";
            return nullptr;
        }
        server->dir_ = pattern;
        if (::geteuid() == 0) {
            passwd* pg = ::getpwnam("postgres");
            if (!pg || ::chown(pattern.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
                why() = "no postgres user to run the server as";
                return nullptr;
            }
        }
        if (server->run_as_owner(server->bin_ + "/initdb -D " + pattern +
                                 "/data -A trust -U dmarc >" + pattern + "/initdb.log 2>&1") != 0) {
            why() = "initdb failed, see " + pattern + "/initdb.log";
            return nullptr;
        }
        std::random_device device;
        for (int attempt = 0; attempt < 5; ++attempt) {
            server->port_ = 20000 + static_cast<int>(device() % 30000);
            std::string options = "-k " + pattern + " -c listen_addresses=127.0.0.1 -p " +
                                  std::to_string(server->port_) + " -c fsync=off";
            if (server->run_as_owner(server->bin_ + "/pg_ctl -D " + pattern + "/data -o \"" +
                                     options + "\" -l " + pattern + "/server.log -w start " +
                                     ">/dev/null 2>&1") == 0) {
                return server;
            }
        }
        why() = "pg_ctl start failed, see " + pattern + "/server.log";
        return nullptr;
    }

    PgServer() = default;
    std::string bin_, dir_;
    int port_ = 0;
    int databases_ = 0;
};

}  // namespace dmarc::test
