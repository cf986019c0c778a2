#include "common/http/answer_board.h"

#include <utility>

namespace switchboard::httpserver::detail {

std::shared_ptr<AnswerBoard::Ticket> AnswerBoard::Await(const std::shared_ptr<AnswerBoard>& board,
                                                        Deliver deliver) {
  std::uint64_t id;
  {
    std::lock_guard<std::mutex> lock(board->mu_);
    id = ++board->next_;
    if (board->open_) board->waiting_.emplace(id, std::move(deliver));
  }
  return std::make_shared<Ticket>(board, id);
}

void AnswerBoard::Answer(std::uint64_t id, Response* response) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  Deliver deliver = std::move(it->second);
  waiting_.erase(it);
  if (response != nullptr) deliver(std::move(*response));
}

void AnswerBoard::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  open_ = false;
  waiting_.clear();
}

AnswerBoard::Ticket::~Ticket() { board_->Answer(id_, nullptr); }

void AnswerBoard::Ticket::Answer(Response response) { board_->Answer(id_, &response); }

}  // namespace switchboard::httpserver::detail
