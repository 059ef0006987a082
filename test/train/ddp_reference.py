# PyTorch's own DistributedDataParallel on the run test/train/distributedRank.ts dumps (same initial weights,
# same data, same epoch order dealt as DistributedSampler deals it): run under
#   python3 -m torch.distributed.run --nproc_per_node 2 ddp_reference.py DUMP.json OUT.json
# Rank 0 writes the parameters after the epoch's steps to OUT.json.
import json
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


class PlainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 2))

    def forward(self, x):
        return self.head(self.body(x))


def main():
    torch.set_num_threads(1)
    dump = json.load(open(sys.argv[1]))
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    model = PlainNet()
    with torch.no_grad():
        for name, p in model.named_parameters():
            src = dump['params'][name]
            p.copy_(torch.tensor(src['values'], dtype=torch.float32).reshape(src['shape']))
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=dump['lr'], momentum=dump['momentum'])
    size = dump['size']
    images = torch.tensor(dump['images'], dtype=torch.float32).reshape(-1, 1, size, size)
    labels = torch.tensor(dump['labels'], dtype=torch.int64)
    order = dump['order']
    per_rank = -(-len(order) // world)
    padded = (order * 2)[: per_rank * world]
    shard = padded[rank::world]
    local = dump['globalBatch'] // world
    for step in range(dump['steps']):
        idx = torch.tensor(shard[step * local:(step + 1) * local])
        opt.zero_grad()
        loss = F.cross_entropy(ddp(images[idx]), labels[idx])
        loss.backward()
        opt.step()
    if rank == 0:
        json.dump({name: p.detach().reshape(-1).tolist() for name, p in model.named_parameters()}, open(sys.argv[2], 'w'))
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
