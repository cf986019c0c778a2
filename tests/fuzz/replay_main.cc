// Replays a fuzz target's inputs in the normal build: every file of the
// corpus folder (which must exist and hold at least one file, so a moved or
// emptied corpus fails instead of passing silently), then every file of the
// other folders given (crash inputs kept as regression seeds; a folder that
// does not exist is skipped, since a target may never have crashed).
// An input that trips the target aborts the process, and ctest reports the
// file it was replaying.
//
//   fuzz_replay_<target> <corpus dir> [<crashes dir>...]

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

namespace {

// The regular files under `dir`, sorted; false if `dir` is not a folder.
bool Files(const fs::path& dir, std::vector<fs::path>* out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) out->push_back(it->path());
  }
  if (ec) {
    std::fprintf(stderr, "replay: cannot list %s: %s\n", dir.c_str(), ec.message().c_str());
    return false;
  }
  std::sort(out->begin(), out->end());
  return true;
}

int Replay(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
    return 1;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
  // A copy of exactly the input's size, so that reads past the end are
  // as visible to a sanitizer here as they are to libFuzzer.
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus dir> [<crashes dir>...]\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> corpus;
  if (!Files(argv[1], &corpus) || corpus.empty()) {
    std::fprintf(stderr, "replay: the corpus folder %s is missing or empty; seed it (docs/reliability.md)\n", argv[1]);
    return 1;
  }
  int failed = 0;
  size_t replayed = 0;
  for (const auto& f : corpus) failed += Replay(f), ++replayed;
  for (int i = 2; i < argc; ++i) {
    std::vector<fs::path> extra;
    if (!Files(argv[i], &extra)) continue;
    for (const auto& f : extra) failed += Replay(f), ++replayed;
  }
  std::printf("replayed %zu inputs (%zu from the corpus)%s\n", replayed, corpus.size(),
              failed ? ", some could not be read" : "");
  return failed ? 1 : 0;
}
