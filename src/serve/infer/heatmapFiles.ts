// Where the node keeps a heatmap's two PNGs, in a module of its own so that readers (the review UI, the CLI's
// review commands) find them without loading the explain room (and LibTorch with it).

/** The viewer's transparent layer beside the burned-in overlay (`heatmaps/<key>.png` → `heatmaps/<key>.layer.png`). */
export function heatmapLayerPath(overlayPath: string): string {
  return overlayPath.replace(/\.png$/, '.layer.png');
}
