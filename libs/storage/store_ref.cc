// StoreRef: forwards every call to a store owned elsewhere.
#include "libs/storage/store_ref.h"

#include "libs/common/check.h"

namespace paxoskv::storage {
namespace {

class StoreRef : public AcceptorStore {
 public:
  explicit StoreRef(AcceptorStore* target) : target_(target) {}
  absl::Status CheckIdentity(const Identity& identity) override {
    return target_->CheckIdentity(identity);
  }
  absl::StatusOr<paxos::DurableState> Load() override { return target_->Load(); }
  absl::Status Write(const WriteBatch& batch) override { return target_->Write(batch); }
  absl::Status SaveSnapshot(const Snapshot& snapshot) override {
    return target_->SaveSnapshot(snapshot);
  }
  absl::StatusOr<Snapshot> LoadSnapshot() override { return target_->LoadSnapshot(); }
  uint64_t ApproximateSizeBytes() override { return target_->ApproximateSizeBytes(); }

 private:
  AcceptorStore* target_;
};

}  // namespace

std::unique_ptr<AcceptorStore> MakeStoreRef(AcceptorStore* target) {
  PAXOSKV_CHECK(target != nullptr) << "MakeStoreRef(nullptr)";
  return std::make_unique<StoreRef>(target);
}

}  // namespace paxoskv::storage
