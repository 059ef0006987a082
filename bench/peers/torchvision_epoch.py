# The peer for bench/epoch.ts: one epoch with the usual PyTorch pipeline — torchvision ImageFolder, Pillow
# transforms (resize + augmentation per image) in DataLoader(num_workers=2) processes, then train or just iterate.
#
# Usage: torchvision_epoch.py ROOT --mode loader|train [--arch resnet50] [--batch 32] [--size 224]
#                             [--workers 2] [--threads 2] [--seed 0]
# Prints one JSON line: {"seconds": epoch wall time, "cpuSeconds": CPU time of this process and its workers,
# "images": images seen, "loss": last loss}.
import argparse, json, random, resource, time

import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision import transforms

p = argparse.ArgumentParser()
p.add_argument('root')
p.add_argument('--mode', choices=['loader', 'train'], required=True)
p.add_argument('--arch', default='resnet50')
p.add_argument('--batch', type=int, default=32)
p.add_argument('--size', type=int, default=224)
p.add_argument('--workers', type=int, default=2)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
random.seed(a.seed)

# fastai's aug_transforms defaults, in their torchvision per-image form: flip 0.5; rotation ±10° and zoom
# 1–1.1 (one RandomAffine, p_affine 0.75); perspective 0.2 (p_affine 0.75); brightness and contrast 0.2
# (p_lighting 0.75); reflection padding has no Pillow equivalent (torchvision fills with 0).
tfm = transforms.Compose([
    transforms.Resize((a.size, a.size)),  # squish, Pillow bilinear with antialias (as ours)
    transforms.RandomHorizontalFlip(0.5),
    transforms.RandomApply([transforms.RandomAffine(degrees=10, scale=(1.0, 1.1))], p=0.75),
    transforms.RandomPerspective(distortion_scale=0.2, p=0.75),
    transforms.RandomApply([transforms.ColorJitter(brightness=0.2, contrast=0.2)], p=0.75),
    transforms.ToTensor(),  # [1, H, W] float in [0, 1]
])
dataset = torchvision.datasets.ImageFolder(a.root, transform=tfm, loader=lambda path: Image.open(path).convert('L'))
loader = torch.utils.data.DataLoader(dataset, batch_size=a.batch, shuffle=True, num_workers=a.workers)


class AdaptiveConcatPool2d(nn.Module):
    def forward(self, x):
        return torch.cat([nn.functional.adaptive_max_pool2d(x, 1), nn.functional.adaptive_avg_pool2d(x, 1)], 1)


def classifier(arch):
    """torchvision body + fastai's head (the study's), as src/models builds it; ImageNet normalisation inside."""
    if arch.startswith('resnet'):
        net = getattr(torchvision.models, arch)()
        body, nf = nn.Sequential(*list(net.children())[:-2]), net.fc.in_features
    elif arch.startswith('densenet'):
        net = getattr(torchvision.models, arch)()
        body, nf = nn.Sequential(net.features, nn.ReLU(inplace=True)), net.classifier.in_features
    else:
        raise SystemExit('unsupported arch ' + arch)
    head = nn.Sequential(AdaptiveConcatPool2d(), nn.Flatten(), nn.BatchNorm1d(2 * nf), nn.Dropout(0.25), nn.Linear(2 * nf, 512),
                         nn.ReLU(inplace=True), nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, 2))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = body, head

        def forward(self, x):
            return self.head(self.body((x - mean) / std))  # one grey channel broadcasts to three
    return Net()


def cpu_seconds():
    # Workers count once they have exited and been joined, which the DataLoader does at the end of the epoch.
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


if a.mode == 'loader':
    for _ in loader:  # one untimed epoch, as the TypeScript side warms its loader
        pass
    start, cpu = time.perf_counter(), cpu_seconds()
    seen = 0
    it = iter(loader)
    for images, labels in it:
        seen += images.shape[0]
    del it  # shuts the workers down, so their CPU time is counted
    print(json.dumps({'seconds': time.perf_counter() - start, 'cpuSeconds': cpu_seconds() - cpu, 'images': seen, 'loss': None}))
else:
    model = classifier(a.arch)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    # One warm-up step outside the timing (allocator, oneDNN primitive caches), as the TypeScript side does.
    warm = torch.rand(a.batch, 1, a.size, a.size)
    loss_fn(model(warm), torch.zeros(a.batch, dtype=torch.long)).backward()
    opt.zero_grad()
    start, cpu = time.perf_counter(), cpu_seconds()
    seen, loss = 0, None
    for images, labels in loader:
        opt.zero_grad()
        out = loss_fn(model(images), labels)
        out.backward()
        opt.step()
        seen, loss = seen + images.shape[0], out.item()
    print(json.dumps({'seconds': time.perf_counter() - start, 'cpuSeconds': cpu_seconds() - cpu, 'images': seen, 'loss': loss}))
