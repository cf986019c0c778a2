#include "server/http/blob_body.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace switchboard::http {

BlobBody::BlobBody(httpserver::Exchange& exchange)
    : exchange_(exchange),
      md5_sent_(exchange.request().Header("content-md5")),
      crc64_sent_(exchange.request().Header("x-ms-content-crc64")) {
  if (!md5_sent_.empty()) md5_.emplace();
}

absl::StatusOr<size_t> BlobBody::Read(char* buf, size_t cap) {
  ASSIGN_OR_RETURN(size_t n, exchange_.ReadBody(buf, cap));
  absl::string_view piece(buf, n);
  if (md5_) md5_->Update(piece);
  if (!crc64_sent_.empty()) crc64_ = blob::Crc64Update(crc64_, piece);
  return n;
}

blob::ChunkSource BlobBody::Source() {
  return [this](char* buf, size_t cap) { return Read(buf, cap); };
}

absl::Status BlobBody::CheckHashes() {
  if (md5_) {
    std::string got = md5_->FinishBase64();
    md5_.reset();
    if (got != md5_sent_) {
      return StatusFromRefusal({400, "Md5Mismatch",
                                absl::StrCat("the MD5 of the body (", got, ") is not the Content-MD5 sent (",
                                             md5_sent_, ")")});
    }
    md5_ok_ = true;
  }
  if (!crc64_sent_.empty() && blob::Crc64Base64(crc64_) != crc64_sent_) {
    return StatusFromRefusal({400, "Crc64Mismatch",
                              absl::StrCat("the CRC-64 of the body (", blob::Crc64Base64(crc64_),
                                           ") is not the x-ms-content-crc64 sent (", crc64_sent_, ")")});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobBody::ReadAll(int64_t size) {
  std::string out(static_cast<size_t>(size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ASSIGN_OR_RETURN(size_t n, Read(out.data() + got, out.size() - got));
    if (n == 0) return absl::InvalidArgumentError("the body ended before its Content-Length");
    got += n;
  }
  return out;
}

void BlobBody::AddHashHeaders(Headers* h) const {
  if (md5_ok_) h->emplace_back("Content-MD5", md5_sent_);
  if (!crc64_sent_.empty()) h->emplace_back("x-ms-content-crc64", crc64_sent_);
}

}  // namespace switchboard::http
