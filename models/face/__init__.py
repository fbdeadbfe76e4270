"""Face restoration parts: MTCNN detection (mtcnn), FFHQ alignment (align), paste-back (paste), weight-free
restorers (baselines). The whole-photo pipeline is models.pipelines.face_photo."""
