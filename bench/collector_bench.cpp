// dmarc-collector import rate (issue 5 acceptance: >= 150,000 rows/s into SQLite): 1,000,000
// spool rows and 1,000,000 OpenDMARC history records imported into a fresh SQLite store through
// io/import (the code dmarc-collector runs), batches of 50,000 rows per transaction. Data is
// generated before timing; the history text is written to a file in $TMPDIR first and read back
// from the page cache, so disk read speed is not measured, SQLite's writes to a file in $TMPDIR
// are. Into an empty store, both imports run in bulk mode (Store::begin_bulk: the secondary
// indexes of messages rebuilt after the last batch), and that rebuild, like the spool deletes,
// is inside the timed import. DMARC_BENCH_ROWS overrides the count. The "CPU" column is the
// importing (writing) thread's CPU time, the critical path on two cores.
// rows/s is per wall-clock second (the acceptance figure); rows/cpu-s per second of the process's
// CPU time, comparable across runs on a shared machine. DMARC_BENCH_HISTORY_FILE=path writes
// the history text there instead (and keeps it), for bench/opendmarc_import.sh to time
// opendmarc-import on the same records (./run bench). BM_Pg* run the same imports into PostgreSQL:
// a private server started for the run (tests/io/pg_server.hpp: initdb in $TMPDIR, loopback,
// fsync=off), skipped when the PostgreSQL server binaries are missing; DMARC_BENCH_PG_ROWS
// overrides their row count.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>

#include "core/history_text.hpp"
#include "io/import.hpp"
#include "io/spool.hpp"
#include "io/store.hpp"
#include "tests/io/pg_server.hpp"
#include "tests/io/sample_rows.hpp"
#include "tests/io/temp_dir.hpp"

namespace {

using namespace dmarc;

int rows_wanted() {
    const char* env = std::getenv("DMARC_BENCH_ROWS");
    int n = env ? std::atoi(env) : 0;
    return n > 0 ? n : 1000000;
}

enum class Backend { sqlite, postgres };

int rows_wanted(Backend backend) {
    if (backend == Backend::postgres) {
        const char* env = std::getenv("DMARC_BENCH_PG_ROWS");
        if (int n = env ? std::atoi(env) : 0; n > 0) return n;
    }
    return rows_wanted();
}

// A fresh, empty store of that backend (inside `dir` for SQLite).
Result<std::unique_ptr<io::Store>> fresh_store(Backend backend, const test::TempDir& dir) {
    if (backend == Backend::sqlite) return io::open_store("sqlite://" + dir.file("store.db"));
    auto* server = test::PgServer::instance();
    if (!server) return make_error(Errc::not_found, test::PgServer::why());
    return io::open_store(server->create_database());
}

void BM_ImportSpool(benchmark::State& state, Backend backend) {
    const int rows = rows_wanted(backend);
    double cpu_seconds = 0;
    for (auto _ : state) {
        state.PauseTiming();
        test::TempDir dir;
        const std::string spool = dir.file("spool.db");
        {
            io::SpoolWriterOptions options;
            options.path = spool;
            options.queue_capacity = 200000;
            options.batch_rows = 50000;
            auto writer = io::SpoolWriter::open(options);
            if (!writer) state.SkipWithError(writer.error().message.c_str());
            for (int i = 0; i < rows; ++i) {
                while (!(*writer)->submit(test::sample_row(i))) (*writer)->flush();
            }
            (*writer)->flush();
        }
        auto store = fresh_store(backend, dir);
        if (!store) {
            state.SkipWithError(store.error().message.c_str());
            return;
        }
        state.ResumeTiming();
        io::SpoolImportOptions options;
        const std::clock_t cpu_start = std::clock();
        auto result = io::import_spool(**store, spool, options);
        cpu_seconds += static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
        if (!result || result->totals.inserted != static_cast<std::uint64_t>(rows)) {
            state.SkipWithError(result ? "row count mismatch" : result.error().message.c_str());
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * rows);
    state.counters["rows/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * rows,
                                                  benchmark::Counter::kIsRate);
    state.counters["rows/cpu-s"] =
        static_cast<double>(state.iterations()) * rows / std::max(cpu_seconds, 1e-9);
}

void BM_ImportHistory(benchmark::State& state, Backend backend) {
    const int rows = rows_wanted(backend);
    double cpu_seconds = 0;
    std::string text;
    text.reserve(static_cast<std::size_t>(rows) * 400);
    for (int i = 0; i < rows; ++i) text += to_history_text(test::sample_history(i));
    // A file, as `dmarc-collector history --input FILE` reads it (its size is what tells the
    // import how many rows are coming); just written, so it is read from the page cache.
    test::TempDir text_dir;
    const char* env_path = std::getenv("DMARC_BENCH_HISTORY_FILE");
    const std::string path = backend == Backend::sqlite && env_path && *env_path
                                 ? std::string(env_path)
                                 : text_dir.file("history.dat");
    {
        std::FILE* out = std::fopen(path.c_str(), "w");
        bool ok = out && std::fwrite(text.data(), 1, text.size(), out) == text.size();
        if (out && std::fclose(out) != 0) ok = false;
        if (!ok) {
            state.SkipWithError(("cannot write " + path).c_str());
            return;
        }
    }
    for (auto _ : state) {
        state.PauseTiming();
        test::TempDir dir;
        auto store = fresh_store(backend, dir);
        if (!store) {
            state.SkipWithError(store.error().message.c_str());
            return;
        }
        std::FILE* input = std::fopen(path.c_str(), "r");
        if (!input) {
            state.SkipWithError(("cannot read " + path).c_str());
            return;
        }
        state.ResumeTiming();
        io::HistoryImportOptions options;
        const std::clock_t cpu_start = std::clock();
        auto result = io::import_history(**store, input, options);
        cpu_seconds += static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
        state.PauseTiming();
        std::fclose(input);
        if (!result || result->totals.inserted != static_cast<std::uint64_t>(rows)) {
            state.SkipWithError(result ? "row count mismatch" : result.error().message.c_str());
        }
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * rows);
    state.counters["rows/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * rows,
                                                  benchmark::Counter::kIsRate);
    state.counters["rows/cpu-s"] =
        static_cast<double>(state.iterations()) * rows / std::max(cpu_seconds, 1e-9);
    state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}

void BM_ImportSpool(benchmark::State& state) {
    BM_ImportSpool(state, Backend::sqlite);
}
void BM_ImportHistory(benchmark::State& state) {
    BM_ImportHistory(state, Backend::sqlite);
}
void BM_PgImportSpool(benchmark::State& state) {
    BM_ImportSpool(state, Backend::postgres);
}
void BM_PgImportHistory(benchmark::State& state) {
    BM_ImportHistory(state, Backend::postgres);
}

BENCHMARK(BM_ImportSpool)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ImportHistory)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PgImportSpool)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PgImportHistory)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
